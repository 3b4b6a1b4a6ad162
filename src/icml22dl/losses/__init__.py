"""Training losses (``nn.Module``)."""

from icml22dl.losses.mse import OneHotMSELoss
from icml22dl.losses.sop import SOPLoss, noise_detection_auroc

__all__ = ["OneHotMSELoss", "SOPLoss", "noise_detection_auroc"]
