"""Training losses (``nn.Module``)."""

from icml22dl.losses.sop import SOPLoss, noise_detection_auroc

__all__ = ["SOPLoss", "noise_detection_auroc"]
