import pytest
import torch

from icml22dl.runner import resolve_device


def test_named_devices_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device='tpu'"):
        resolve_device("tpu")
