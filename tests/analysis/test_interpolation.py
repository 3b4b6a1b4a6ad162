"""Interpolation paths: endpoints, closed forms, BatchNorm policies, metrics, no mutation."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.analysis.interpolation import (
    alpha_drop,
    barrier_over_chord,
    bumps,
    classification_evaluator,
    interpolate_state,
    is_monotone,
    layerwise_paths,
    linear_path,
    mlp_layer_groups,
    param_distance,
    random_direction,
    recompute_bn_stats,
    resnet_stage_groups,
)
from icml22dl.nn.mlp import MLP


def _pair(seed=0, batchnorm=True):
    torch.manual_seed(seed)
    a = MLP(8, (16, 16), 3, batchnorm=batchnorm)
    b = copy.deepcopy(a)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.5 * torch.randn_like(p))
        for name, buf in b.named_buffers():
            if torch.is_floating_point(buf):
                buf.copy_(buf + 0.3 * torch.rand_like(buf))
    return a, b


def _data(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("policy", ["start", "end", "interpolate"])
def test_alpha_0_and_1_reproduce_the_end_models_bitwise(policy):
    a, b = _pair()
    x, y = _data()
    evaluate = classification_evaluator(x, y)
    path = linear_path(a, a, b, [0.0, 0.5, 1.0], evaluate, bn_policy=policy)
    a.eval(), b.eval()
    start = evaluate(a) if policy in ("start", "interpolate") else None
    if start is not None:
        assert path["loss"][0] == start["loss"]
    if policy in ("end", "interpolate"):
        assert path["loss"][-1] == evaluate(b)["loss"]


def test_recompute_endpoints_equal_the_models_with_recomputed_stats():
    a, b = _pair()
    x, y = _data()
    evaluate = classification_evaluator(x, y)
    path = linear_path(a, a, b, [0.0, 1.0], evaluate, bn_batches=[x])
    for k, model in enumerate((a, b)):
        ref = recompute_bn_stats(copy.deepcopy(model), [x])
        assert path["loss"][k] == evaluate(ref)["loss"]


def test_inputs_are_not_mutated_and_group_all_equals_whole_path():
    a, b = _pair()
    x, y = _data()
    before = [copy.deepcopy(m.state_dict()) for m in (a, b)]
    evaluate = classification_evaluator(x, y)
    alphas = torch.linspace(0, 1, 7, dtype=torch.float64).tolist()
    whole = linear_path(a, a, b, alphas, evaluate, bn_batches=[x])
    everything = [n for n, _ in a.named_parameters()]
    grouped = linear_path(a, a, b, alphas, evaluate, groups=everything, bn_batches=[x])
    assert whole["loss"] == grouped["loss"]
    for model, state in zip((a, b), before):
        for k, v in model.state_dict().items():
            assert torch.equal(v, state[k])
    assert whole.bn_policy == "recompute" and grouped.groups == everything


def test_linear_regression_path_matches_the_exact_quadratic():
    torch.manual_seed(0)
    x = torch.randn(50, 4, dtype=torch.float64)
    y = torch.randn(50, dtype=torch.float64)
    start = nn.Linear(4, 1, dtype=torch.float64)
    end = nn.Linear(4, 1, dtype=torch.float64)

    def mse(model):
        return {"loss": float(((model(x)[:, 0] - y) ** 2).mean())}

    alphas = torch.linspace(-0.5, 1.5, 21, dtype=torch.float64).tolist()
    path = linear_path(start, start, end, alphas, mse, bn_policy="end")
    # closed form: r(alpha) = r0 + alpha (r1 - r0) is affine in alpha, so L is an exact quadratic
    r0 = start(x)[:, 0].detach() - y
    r1 = end(x)[:, 0].detach() - y
    for a, value in zip(alphas, path["loss"]):
        exact = float(((r0 + a * (r1 - r0)) ** 2).mean())
        assert abs(value - exact) <= 1e-10


def test_interpolate_policy_matches_a_hand_built_state_dict():
    a, b = _pair()
    state = interpolate_state(a, a, b, 0.25, bn_policy="interpolate")
    sa, sb = a.state_dict(), b.state_dict()
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            assert torch.equal(v, sb[k])
        else:
            assert torch.equal(v, sa[k] + 0.25 * (sb[k] - sa[k]))
    # and the path evaluates exactly that state
    x, y = _data()
    evaluate = classification_evaluator(x, y)
    path = linear_path(a, a, b, [0.25], evaluate, bn_policy="interpolate")
    ref = copy.deepcopy(a)
    ref.load_state_dict(state)
    ref.eval()
    assert path["loss"][0] == evaluate(ref)["loss"]


def test_recompute_on_one_full_batch_gives_mean_and_unbiased_variance():
    a, _ = _pair()
    x, _ = _data(n=37)
    model = recompute_bn_stats(copy.deepcopy(a), [x])
    pre_bn = a.blocks[0][0](x).detach()  # the first Linear's output feeds the first BatchNorm
    bn = model.blocks[0][1]
    assert torch.allclose(bn.running_mean, pre_bn.mean(0), atol=1e-6)
    assert torch.allclose(bn.running_var, pre_bn.var(0, unbiased=True), atol=1e-6)
    assert not model.training and bn.momentum == a.blocks[0][1].momentum


def test_batch_policy_uses_batch_statistics_and_restores_buffers():
    a, b = _pair()
    x, y = _data()
    evaluate = classification_evaluator(x, y)
    path = linear_path(a, a, b, [1.0], evaluate, bn_policy="batch")
    ref = copy.deepcopy(b)
    ref.train()
    with torch.no_grad():
        expected = float(F.cross_entropy(ref(x), y))
    assert path["loss"][0] == pytest.approx(expected, abs=1e-6)


def test_layerwise_groups_hold_the_rest_at_the_end_model():
    a, b = _pair()
    x, y = _data()
    evaluate = classification_evaluator(x, y)
    groups = mlp_layer_groups(a)
    assert list(groups) == ["layer1", "layer2", "classifier"]
    assert groups["layer1"] == ["blocks.0.0", "blocks.0.1"]
    paths = layerwise_paths(a, a, b, groups, [0.0, 1.0], evaluate, bn_policy="end")
    b.eval()
    end_loss = evaluate(b)["loss"]
    for name in groups:  # at alpha = 1 every group path is the end model
        assert paths[name]["loss"][1] == end_loss
    # at alpha = 0 only the classifier is at its start: hand-built reference
    ref = copy.deepcopy(b)
    ref.classifier.load_state_dict(a.classifier.state_dict())
    ref.eval()
    assert paths["classifier"]["loss"][0] == evaluate(ref)["loss"]
    assert paths["all"]["loss"][1] == end_loss


def test_resnet_stage_groups():
    from icml22dl.nn.cifar_models import resnet18_cifar

    assert list(resnet_stage_groups(resnet18_cifar())) == ["stem", "B1", "B2", "B3", "B4", "fc"]
    with pytest.raises(ValueError, match="ResNetCIFAR"):
        resnet_stage_groups(nn.Linear(2, 2))


def test_path_metrics_against_hand_computed_values():
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert is_monotone([3, 2, 2, 1, 0])
    assert not is_monotone([3, 2, 2.5, 1, 0])
    assert is_monotone([3, 2, 2.05, 1, 0], tol=0.1)
    found = bumps(alphas, [3.0, 2.0, 2.5, 2.8, 1.0])
    assert found == [{"start": 0.25, "end": 1.0, "width": 0.75, "height": pytest.approx(0.8), "open": 0.0}]
    assert bumps(alphas, [3.0, 2.0, 2.5, 2.8, 2.7])[0]["open"] == 1.0
    assert bumps(alphas, [3, 2, 1, 0.5, 0]) == []
    # chord from 4 to 0: values 3, 2, 1 at 0.25, 0.5, 0.75; path 3.5 at 0.5 -> barrier 1.5
    assert barrier_over_chord(alphas, [4.0, 3.0, 3.5, 1.0, 0.0]) == pytest.approx(1.5)
    assert barrier_over_chord(alphas, [4.0, 1.0, 0.5, 0.2, 0.0]) == pytest.approx(0.0)
    assert alpha_drop(alphas, [2.3, 2.2, 0.9, 0.5, 0.1], 1.0) == 0.5
    assert math.isnan(alpha_drop(alphas, [2.3, 2.2, 2.1, 2.0, 1.5], 1.0))


def test_param_distance_whole_and_grouped():
    a, b = _pair()
    expected = math.sqrt(
        sum(
            float(((pb.detach().double() - pa.detach().double()) ** 2).sum())
            for pa, pb in zip(a.parameters(), b.parameters())
        )
    )
    assert param_distance(a, b) == pytest.approx(expected, rel=1e-12)
    per_group = param_distance(a, b, mlp_layer_groups(a))
    assert math.sqrt(sum(v**2 for v in per_group.values())) == pytest.approx(expected, rel=1e-12)
    assert param_distance(a.state_dict(), b.state_dict(), parameters_only=a) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("normalization", ["filter", "layer", "model"])
def test_random_direction_normalisation(normalization):
    a, _ = _pair()
    d = random_direction(a, normalization, torch.Generator().manual_seed(0))
    params = dict(a.named_parameters())
    for name, v in d.items():
        if params[name].ndim <= 1:
            assert torch.count_nonzero(v) == 0
        elif normalization == "filter":
            assert torch.allclose(v.norm(dim=1), params[name].detach().norm(dim=1), rtol=1e-5)
        elif normalization == "layer":
            assert float(v.norm()) == pytest.approx(float(params[name].detach().norm()), rel=1e-5)
    if normalization == "model":
        total_d = math.sqrt(sum(float(v.norm()) ** 2 for v in d.values()))
        total_p = math.sqrt(sum(float(p.detach().norm()) ** 2 for p in a.parameters() if p.ndim > 1))
        assert total_d == pytest.approx(total_p, rel=1e-5)


def test_bad_arguments_raise():
    a, b = _pair()
    x, y = _data()
    evaluate = classification_evaluator(x, y)
    with pytest.raises(ValueError, match="bn_policy"):
        linear_path(a, a, b, [0.0], evaluate, bn_policy="nope")
    with pytest.raises(ValueError, match="bn_batches"):
        linear_path(a, a, b, [0.0], evaluate)
    with pytest.raises(ValueError, match="alphas"):
        linear_path(a, a, b, [], evaluate, bn_policy="end")


def test_bn_free_path_matches_loss_landscapes_linear_interpolation():
    pytest.importorskip("loss_landscapes")
    import loss_landscapes
    import loss_landscapes.metrics

    torch.manual_seed(0)
    start = MLP(8, (16, 16), 3, batchnorm=False)
    end = MLP(8, (16, 16), 3, batchnorm=False)
    x, y = _data(n=128)
    start_copy = copy.deepcopy(start.state_dict())
    metric = loss_landscapes.metrics.Loss(F.cross_entropy, x, y)
    # loss-landscapes evaluates alpha = k/steps for k = 1..steps (no alpha = 0) by repeated adds
    theirs = loss_landscapes.linear_interpolation(start, end, metric, steps=50, deepcopy_model=True)
    ours = linear_path(
        start,
        start,
        end,
        [k / 50 for k in range(1, 51)],
        lambda m: {"loss": float(F.cross_entropy(m(x), y))},
        bn_policy="start",
    )
    assert max(abs(a - b) for a, b in zip(ours["loss"], theirs)) <= 1e-5
    for k, v in start.state_dict().items():
        assert torch.equal(v, start_copy[k])


def test_classification_evaluator_is_train_evaluate_without_changing_modes():
    # Brute force, in one batch, against the batched evaluator (batch 7 over 30 examples).
    x, y = _data()
    model = MLP(x.shape[1], (6,), 3)
    model.train()  # the "batch" policy evaluates BatchNorm on batch statistics: the mode must survive
    scale = 2.0
    values = classification_evaluator(x, y, batch_size=len(y), prefix="p_", transform=lambda t: t * scale)(model)
    assert model.training
    logits = model(x * scale).detach()
    assert values["p_accuracy"] == float((logits.argmax(1) == y).sum()) / len(y)
    assert values["p_loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-6)
    model.eval()
    batched = classification_evaluator(x, y, batch_size=7)(model)
    logits = model(x).detach()
    assert not model.training
    assert batched["accuracy"] == float((logits.argmax(1) == y).sum()) / len(y)
    assert batched["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-6)
    with pytest.raises(ValueError, match="batch_size=0"):
        classification_evaluator(x, y, batch_size=0)
