"""Small graphs and a helper model shared by the LA-GNN tests."""

import torch
import torch.nn.functional as F
from torch import nn


def sbm(n_per_class=30, classes=3, words=40, seed=0):
    """Planted-partition graph with class-dependent Bernoulli bag-of-words (a small stand-in for Cora)."""
    g = torch.Generator().manual_seed(seed)
    n = n_per_class * classes
    y = torch.arange(classes).repeat_interleave(n_per_class)
    probs = torch.full((classes, words), 0.03)
    for c in range(classes):
        probs[c, c * (words // classes) : (c + 1) * (words // classes)] = 0.4
    x = torch.bernoulli(probs[y], generator=g)
    same = (y[:, None] == y[None, :]).float()
    adj = torch.bernoulli(0.15 * same + 0.01 * (1 - same), generator=g).triu(1)
    adj = adj + adj.t()
    edge_index = adj.nonzero().t().contiguous()
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:30]], masks[1][perm[30:60]], masks[2][perm[60:]] = True, True, True
    return x, y, edge_index, masks


class Helper(nn.Module):
    def __init__(self, f, c, p):
        super().__init__()
        self.lin, self.p = nn.Linear(f, c), p

    def forward(self, x, edge_index):
        return self.lin(F.dropout(x, self.p, self.training))
