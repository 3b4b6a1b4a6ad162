"""The certified networks are 1-Lipschitz (checked on random pairs) and build in both variants."""

import pytest
import torch

from icml22dl.nn import get_model
from icml22dl.nn.lipschitz_nets import kw_large, small_ortho_net


def test_small_net_is_one_lipschitz_and_norm_bounded():
    torch.manual_seed(0)
    net = small_ortho_net(generator=torch.Generator().manual_seed(0)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
        x, y = torch.randn(32, 1, 14, 14, dtype=torch.float64), torch.randn(32, 1, 14, 14, dtype=torch.float64)
        y = x + 0.1 * y
        ratio = (net(x) - net(y)).norm(dim=1) / (x - y).flatten(1).norm(dim=1)
    assert ratio.max().item() <= 1 + 1e-12
    assert get_model("small_ortho_net", conv="plain")(torch.randn(2, 1, 14, 14)).shape == (2, 10)


@pytest.mark.slow
def test_kw_large_shapes():
    # the convolutional trunk only: the 4096 -> 512 orthogonal linear layer takes a 4096 x 4096
    # matrix exponential per forward (about 30 CPU-s), left to the paper-scale (GPU) run
    net = kw_large(generator=torch.Generator().manual_seed(0))
    assert net[:8](torch.randn(2, 3, 32, 32)).shape == (2, 64, 8, 8)
    assert net[9].in_features == 4096 and net[9].out_features == 512
    assert kw_large(conv="plain")(torch.randn(2, 3, 32, 32)).shape == (2, 10)
