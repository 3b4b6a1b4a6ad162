"""StreamSampler: batches cut from an endless stream of permutations, as fit's ``batches``."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.data import StreamSampler
from icml22dl.train import fit


def reference_stream(n, batch_size, seed, steps):
    """The step-counted loop's sampling, written independently: refill when fewer than a batch remain."""
    gen = torch.Generator().manual_seed(seed)
    order, out = torch.empty(0, dtype=torch.long), []
    for _ in range(steps):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(n, generator=gen)])
        out.append(order[:batch_size])
        order = order[batch_size:]
    return out


def test_batches_equal_the_reference_stream_and_straddle_epochs():
    sampler = StreamSampler(10, 4, torch.Generator().manual_seed(3))
    ours = [sampler.next_batch() for _ in range(12)]
    for a, b in zip(ours, reference_stream(10, 4, 3, 12)):
        assert torch.equal(a, b)
    assert all(len(b) == 4 for b in ours)
    first_pass = torch.cat(ours)[:10]
    assert sorted(first_pass.tolist()) == list(range(10))  # each pass is a permutation
    assert sampler.passes == 5  # 48 indices from 5 passes of 10


def test_fit_with_the_sampler_equals_the_hand_written_step_loop():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(23, 3, generator=g), torch.randint(0, 2, (23,), generator=g)
    model_a, model_b = nn.Linear(3, 2), nn.Linear(3, 2)
    model_b.load_state_dict(model_a.state_dict())
    steps, seen = 9, []
    sampler = StreamSampler(23, 5, torch.Generator().manual_seed(1))
    result = fit(
        model_a,
        torch.optim.SGD(model_a.parameters(), lr=0.1),
        x,
        y,
        epochs=steps,
        batches=sampler,
        on_epoch=lambda step, r: seen.append((step, r.steps)),
    )
    assert result.steps == steps and seen == [(s, s) for s in range(1, steps + 1)]  # one step per "epoch"
    opt = torch.optim.SGD(model_b.parameters(), lr=0.1)
    for idx in reference_stream(23, 5, 1, steps):
        loss = F.cross_entropy(model_b(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)


def test_steps_per_call_and_bad_arguments():
    sampler = StreamSampler(6, 2, torch.Generator().manual_seed(0), steps_per_call=3)
    assert [len(b) for b in sampler(1)] == [2, 2, 2] and sampler.passes == 1
    assert len(StreamSampler(3, 7, None).next_batch()) == 7  # larger than n: several passes
    with pytest.raises(ValueError, match="batch_size=0 is out of range"):
        StreamSampler(5, 0, None)
    with pytest.raises(ValueError, match="n=0 is out of range"):
        StreamSampler(0, 1, None)
