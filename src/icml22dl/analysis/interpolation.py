"""Loss and accuracy along the straight line between two parameter vectors.

``theta_alpha = (1 - alpha) theta_i + alpha theta_f`` for the whole network or for chosen
parameter groups (every other group held at ``theta_f``), with an explicit BatchNorm policy,
and the summary measures of the path (monotonicity, bumps, barrier over the chord, the
alpha where the loss first drops).

References:
    T. J. Vlaar, J. Frankle. What can linear interpolation of neural network loss landscapes
    tell us? ICML 2022 (arXiv 2106.16004). J. Lucas, J. Bae, M. R. Zhang, S. Fort, R. Zemel,
    R. Grosse. Analyzing monotonic linear interpolation in neural network loss landscapes.
    ICML 2021 (monotonicity, bumps, BatchNorm re-estimation). N. Chatterji, B. Neyshabur,
    H. Sedghi. The intriguing role of module criticality. ICLR 2020 (layer-wise paths).
    I. Goodfellow, O. Vinyals, A. Saxe. Qualitatively characterizing neural network
    optimization problems. ICLR 2015.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.train import evaluate as evaluate_classifier
from icml22dl.validation import check_choice, check_int, check_number

__all__ = [
    "BN_POLICIES",
    "PathResult",
    "alpha_drop",
    "barrier_over_chord",
    "bumps",
    "classification_evaluator",
    "interpolate_state",
    "is_monotone",
    "layerwise_paths",
    "linear_path",
    "mlp_layer_groups",
    "param_distance",
    "random_direction",
    "recompute_bn_stats",
    "resnet_stage_groups",
]

BN_POLICIES = ("recompute", "interpolate", "batch", "start", "end")
_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


@dataclass
class PathResult:
    """The metrics along one path: ``metrics[name][k]`` is the value at ``alphas[k]``.

    Returned by :func:`linear_path` (one path for the whole network) and
    :func:`layerwise_paths` (one per layer group, named in ``groups``).

    References:
        Vlaar & Frankle (ICML 2022), Sec. 3: the loss and accuracy along
        theta(alpha) = (1 - alpha) theta_0 + alpha theta_T.

    Example:
        >>> result = PathResult(alphas=[0.0, 0.5, 1.0], metrics={"loss": [2.3, 1.1, 0.2]}, bn_policy="none")
        >>> result["loss"][-1]
        0.2
    """

    alphas: list[float]
    metrics: dict[str, list[float]]
    bn_policy: str
    groups: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[float]:
        return self.metrics[name]


def _state_of(source: nn.Module | Mapping[str, Tensor]) -> dict[str, Tensor]:
    if isinstance(source, nn.Module):
        return {k: v.detach() for k, v in source.state_dict().items()}
    return {k: v.detach() for k, v in source.items()}


def _in_groups(name: str, groups: Sequence[str] | None) -> bool:
    if groups is None:
        return True
    return any(name == g or name.startswith(g + ".") for g in groups)


def _buffer_names(model: nn.Module) -> set[str]:
    return {name for name, _ in model.named_buffers()}


def _alpha_grid(alphas: Iterable[float]) -> list[float]:
    """The grid as floats; ``ValueError`` naming ``alphas`` when it is empty or holds a non-finite value."""
    grid = [float(a) for a in alphas]
    if not grid:
        raise ValueError("alphas=[] is empty: give at least one alpha (e.g. torch.linspace(0, 1, 21))")
    for k, a in enumerate(grid):
        check_number(f"alphas[{k}]", a)
    return grid


def interpolate_state(
    model: nn.Module,
    start: nn.Module | Mapping[str, Tensor],
    end: nn.Module | Mapping[str, Tensor],
    alpha: float,
    *,
    groups: Sequence[str] | None = None,
    bn_policy: str = "interpolate",
) -> dict[str, Tensor]:
    r"""The state dict at ``theta_alpha = (1 - alpha) theta_start + alpha theta_end``.

    Built from the endpoints with ``torch.lerp`` (exactly ``start`` at alpha = 0 and ``end``
    at alpha = 1), never by repeated in-place adds. Parameters outside ``groups`` take
    ``end``'s values. Floating buffers (BatchNorm running stats) follow ``bn_policy``:
    ``interpolate`` (like parameters), ``start`` / ``end`` (that endpoint's), and otherwise
    ``end``'s (``recompute`` and ``batch`` replace them later); integer buffers
    (``num_batches_tracked``) always take ``end``'s.

    Args:
        model: the architecture (only its parameter and buffer names are read).
        start, end: modules or state dicts of the same architecture.
        alpha: the interpolation coefficient (values outside [0, 1] extrapolate).
        groups: parameter-name prefixes to interpolate (default: all).
        bn_policy: one of ``BN_POLICIES``.

    Returns:
        A new state dict (the inputs are not modified).

    Example:
        >>> net = nn.Linear(1, 1)
        >>> zero = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
        >>> two = {k: torch.full_like(v, 2.0) for k, v in net.state_dict().items()}
        >>> interpolate_state(net, zero, two, 0.25)["weight"].item()
        0.5

    References:
        Vlaar & Frankle (ICML 2022), Sec. 2 (the path between initial and final parameters);
        Lucas et al. (ICML 2021) for the BatchNorm handling.
    """
    check_choice("bn_policy", bn_policy, BN_POLICIES)
    a, b = _state_of(start), _state_of(end)
    if a.keys() != b.keys():
        raise ValueError(f"start and end have different keys: {sorted(set(a) ^ set(b))[:5]}")
    buffers = _buffer_names(model)
    out = {}
    for name, e in b.items():
        s = a[name]
        if not torch.is_floating_point(e):
            out[name] = e.clone()
        elif name in buffers:
            if bn_policy == "interpolate" and _in_groups(name, groups):
                out[name] = torch.lerp(s, e, float(alpha))
            elif bn_policy == "start" and _in_groups(name, groups):
                out[name] = s.clone()
            else:
                out[name] = e.clone()
        elif _in_groups(name, groups):
            out[name] = torch.lerp(s, e, float(alpha))
        else:
            out[name] = e.clone()
    return out


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches: Iterable[Any]) -> nn.Module:
    r"""Re-estimate every BatchNorm's running statistics on ``batches``, then switch to eval.

    Resets the running mean/variance, sets ``momentum=None`` (a cumulative average, every
    batch weighted equally: use equal-sized batches or one full batch), runs the batches
    in train mode under ``no_grad`` and restores each module's momentum. ``running_var`` is
    the unbiased batch variance, as in PyTorch.

    Args:
        model: modified in place.
        batches: inputs ``x`` or tuples ``(x, ...)`` (only the first element is fed).

    Returns:
        ``model``, in eval mode.

    Example:
        >>> bn = nn.BatchNorm1d(1)
        >>> _ = recompute_bn_stats(bn, [torch.tensor([[1.0], [3.0]])])
        >>> bn.running_mean.item(), bn.running_var.item(), bn.training
        (2.0, 2.0, False)

    References:
        Lucas et al. (ICML 2021), ``warm_bn``; the library's default ``bn_policy="recompute"``
        (docs/papers/interpolation.md#method).
    """
    bns = [m for m in model.modules() if isinstance(m, _BN_TYPES) and m.track_running_stats]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    seen = 0
    for batch in batches:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        model(x)
        seen += 1
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    if bns and seen == 0:
        raise ValueError("recompute_bn_stats needs at least one batch")
    return model.eval()


def _has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, _BN_TYPES) for m in model.modules())


@torch.no_grad()
def linear_path(
    model: nn.Module,
    start: nn.Module | Mapping[str, Tensor],
    end: nn.Module | Mapping[str, Tensor],
    alphas: Iterable[float],
    evaluate: Callable[[nn.Module], Mapping[str, float]],
    *,
    groups: Sequence[str] | None = None,
    bn_policy: str = "recompute",
    bn_batches: Iterable[Any] | Callable[[], Iterable[Any]] | None = None,
) -> PathResult:
    r"""Evaluate ``evaluate(model_alpha)`` along ``theta_alpha = (1 - alpha) theta_i + alpha theta_f``.

    .. math::
        \theta_\alpha^{(g)} = (1-\alpha)\theta_i^{(g)} + \alpha\theta_f^{(g)} \text{ for } g \in
        \text{groups},\qquad \theta_\alpha^{(g)} = \theta_f^{(g)} \text{ otherwise}

    A private copy of ``model`` is evaluated; ``model``, ``start`` and ``end`` are never
    modified, and no gradients are taken. BatchNorm, recorded in the result:

    * ``recompute`` (default): running stats re-estimated at every alpha on ``bn_batches``
      (:func:`recompute_bn_stats`), then eval mode;
    * ``interpolate``: running mean/var interpolated like parameters;
    * ``batch``: BatchNorm layers in train mode (batch statistics; buffers restored after);
    * ``start`` / ``end``: that endpoint's running stats.

    ``evaluate`` receives the model in the mode the policy sets (eval, or BatchNorm in train
    mode for ``batch``) and must not change it; :func:`classification_evaluator` builds a
    batched one.

    Args:
        model: the architecture (a template: copied, not modified).
        start, end: modules or state dicts (initial and final parameters).
        alphas: the grid; include 0 and 1 to get the endpoints (``torch.linspace(0, 1, K)``).
        evaluate: ``model -> {metric: value}``.
        groups: parameter-name prefixes to interpolate; the rest is held at ``end``.
        bn_policy: one of ``BN_POLICIES``.
        bn_batches: training batches for ``recompute`` (an iterable, or a callable returning
            a fresh iterable per alpha).

    Returns:
        :class:`PathResult` with the grid, the per-alpha metrics, the policy and the groups.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> a, b = copy.deepcopy(net.state_dict()), {k: v + 1 for k, v in net.state_dict().items()}
        >>> x = torch.zeros(4, 2)
        >>> path = linear_path(net, a, b, [0.0, 0.5, 1.0], lambda m: {"out": float(m(x).mean())})
        >>> [round(v - path["out"][0], 3) for v in path["out"]]
        [0.0, 0.5, 1.0]

    References:
        Vlaar & Frankle (ICML 2022), Sec. 2; Lucas et al. (ICML 2021); docs/papers/interpolation.md#method.
    """
    grid = _alpha_grid(alphas)
    check_choice("bn_policy", bn_policy, BN_POLICIES)
    has_bn = _has_bn(model)
    if bn_policy == "recompute" and has_bn and bn_batches is None:
        raise ValueError("bn_policy='recompute' needs bn_batches (training batches)")
    a, b = _state_of(start), _state_of(end)
    work = copy.deepcopy(model)
    work.load_state_dict(b)
    params = dict(work.named_parameters())
    buffers = dict(work.named_buffers())
    param_pairs = [(params[n], a[n], b[n]) for n in params if _in_groups(n, groups)]
    buffer_pairs = [
        (buffers[n], a[n], b[n], _in_groups(n, groups)) for n in buffers if torch.is_floating_point(buffers[n])
    ]
    bn_modules = [m for m in work.modules() if isinstance(m, _BN_TYPES)]
    results: dict[str, list[float]] = {}
    work.eval()
    first = True
    for alpha in grid:
        for p, s, e in param_pairs:
            torch.lerp(s, e, alpha, out=p.data)
        for buf, s, e, in_group in buffer_pairs:  # recompute/batch overwrite or restore them later
            if bn_policy == "interpolate" and in_group:
                torch.lerp(s, e, alpha, out=buf)
            elif first or bn_policy in ("recompute", "batch"):  # start/end: fixed, set once
                buf.copy_(s if bn_policy == "start" and in_group else e)
        first = False
        if bn_policy == "recompute" and has_bn:
            assert bn_batches is not None  # checked above
            recompute_bn_stats(work, bn_batches() if callable(bn_batches) else bn_batches)
            work.eval()
        if bn_policy == "batch":
            saved = [(buf, buf.clone()) for buf in buffers.values()]
            for m in bn_modules:
                m.train()
            values = evaluate(work)
            for buf, saved_value in saved:
                buf.copy_(saved_value)
            work.eval()
        else:
            values = evaluate(work)
        for key, value in values.items():
            results.setdefault(key, []).append(float(value))
    return PathResult(
        alphas=grid, metrics=results, bn_policy=bn_policy, groups=list(groups) if groups is not None else None
    )


def layerwise_paths(
    model: nn.Module,
    start: nn.Module | Mapping[str, Tensor],
    end: nn.Module | Mapping[str, Tensor],
    groups: Mapping[str, Sequence[str]],
    alphas: Iterable[float],
    evaluate: Callable[[nn.Module], Mapping[str, float]],
    *,
    include_all: bool = True,
    **kwargs: Any,
) -> dict[str, PathResult]:
    """One :func:`linear_path` per group (that group interpolated, the rest at ``end``).

    Args:
        model, start, end, alphas, evaluate: as in :func:`linear_path`.
        groups: ``{group name: parameter-name prefixes}`` (e.g. :func:`mlp_layer_groups`).
        include_all: add the whole path under ``"all"`` ("vary all").
        **kwargs: ``bn_policy``, ``bn_batches``.

    Returns:
        ``{group name: PathResult}``.

    Example:
        >>> net = nn.Sequential(nn.Linear(1, 1), nn.Linear(1, 1))
        >>> a = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
        >>> b = {k: torch.ones_like(v) for k, v in net.state_dict().items()}
        >>> paths = layerwise_paths(net, a, b, {"first": ["0"]}, [0.0, 1.0], lambda m: {"w0": float(m[0].weight)})
        >>> sorted(paths), paths["all"]["w0"]
        (['all', 'first'], [0.0, 1.0])

    References:
        Chatterji et al. (ICLR 2020), module criticality; Vlaar & Frankle (ICML 2022), Sec. 5.
    """
    grid = _alpha_grid(alphas)
    out = {
        name: linear_path(model, start, end, grid, evaluate, groups=list(prefixes), **kwargs)
        for name, prefixes in groups.items()
    }
    if include_all:
        out["all"] = linear_path(model, start, end, grid, evaluate, **kwargs)
    return out


def mlp_layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """Groups ``layer1, layer2, ...`` of an MLP: each Linear with the BatchNorm that follows it.

    The last Linear is named ``classifier``.

    Returns:
        ``{group: [module prefixes]}``.

    Example:
        >>> from icml22dl.nn import MLP
        >>> mlp_layer_groups(MLP(4, (3,), 2))
        {'layer1': ['blocks.0.0', 'blocks.0.1'], 'classifier': ['classifier']}

    References:
        Vlaar & Frankle (ICML 2022), Sec. 5 (layer-wise interpolation, one group per layer).
    """
    groups: list[list[str]] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            groups.append([name])
        elif isinstance(module, _BN_TYPES) and groups:
            groups[-1].append(name)
    if not groups:
        raise ValueError("mlp_layer_groups: the model has no nn.Linear")
    named = {f"layer{k + 1}": g for k, g in enumerate(groups[:-1])}
    named["classifier"] = groups[-1]
    return named


def resnet_stage_groups(model: nn.Module) -> dict[str, list[str]]:
    """Groups of a CIFAR ResNet (``stem``, ``stages``, ``fc``): stem, B1..B4, fc.

    Returns:
        ``{"stem": [...], "B1": [...], ..., "fc": [...]}``.

    Example:
        >>> from icml22dl.nn import resnet18_cifar
        >>> list(resnet_stage_groups(resnet18_cifar()))
        ['stem', 'B1', 'B2', 'B3', 'B4', 'fc']

    References:
        Vlaar & Frankle (ICML 2022), Sec. 5: the ResNet-18 blocks B1-B4 and the fc layer.
    """
    if not all(hasattr(model, a) for a in ("stem", "stages", "fc")):
        raise ValueError("resnet_stage_groups needs a model with .stem, .stages and .fc (ResNetCIFAR)")
    groups = {"stem": ["stem"]}
    for k in range(len(list(model.get_submodule("stages").children()))):
        groups[f"B{k + 1}"] = [f"stages.{k}"]
    groups["fc"] = ["fc"]
    return groups


def classification_evaluator(
    x: Tensor,
    y: Tensor,
    batch_size: int = 4096,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    prefix: str = "",
    *,
    transform: Callable[[Tensor], Tensor] | None = None,
    amp: bool = False,
) -> Callable[[nn.Module], dict[str, float]]:
    """The ``evaluate`` argument of :func:`linear_path`: ``model -> {prefix+"loss", prefix+"accuracy"}`` on ``(x, y)``.

    A closure over :func:`icml22dl.train.evaluate` that leaves the model's modes as the
    BatchNorm policy of the path set them (``set_eval=False``): the loss is the
    example-weighted mean of ``loss_fn`` (reduction 'mean') over batches of ``batch_size``,
    the accuracy that of the argmax.

    Args:
        x, y: inputs and integer targets, on the model's device.
        batch_size: examples per forward pass (>= 1).
        loss_fn: ``loss_fn(logits, y) -> mean``.
        prefix: prepended to the metric names (``"train_"``).
        transform: applied to each input batch first (e.g. a normalisation).
        amp: bfloat16 autocast on CUDA.

    Returns:
        The evaluator.

    Example:
        >>> x, y = torch.eye(3), torch.tensor([0, 1, 1])
        >>> evaluate = classification_evaluator(x, y, prefix="test_")
        >>> evaluate(nn.Identity())["test_accuracy"]  # argmax of the rows of I: 0, 1, 2
        0.6666666666666666

    References:
        Vlaar & Frankle (ICML 2022), Sec. 2: the loss (and accuracy) at each point of the path.
    """
    check_int("batch_size", batch_size, low=1)

    def evaluate_model(model: nn.Module) -> dict[str, float]:
        result = evaluate_classifier(
            model, x, y, batch_size=batch_size, transform=transform, loss=loss_fn, amp=amp, set_eval=False
        )
        return {f"{prefix}loss": result.loss, f"{prefix}accuracy": result.accuracy}

    return evaluate_model


def is_monotone(losses: Sequence[float], tol: float = 0.0) -> bool:
    """``L(alpha_{k+1}) <= L(alpha_k) + tol`` for every k: monotonic linear interpolation.

    Example:
        >>> is_monotone([2.3, 1.0, 0.1]), is_monotone([2.3, 2.5, 0.1]), is_monotone([2.3, 2.35, 0.1], tol=0.1)
        (True, False, True)

    References:
        Lucas et al. (ICML 2021), monotonic linear interpolation; Vlaar & Frankle (ICML 2022), Sec. 3.
    """
    values = [float(v) for v in losses]
    return all(b <= a + tol for a, b in zip(values[:-1], values[1:]))


def bumps(alphas: Sequence[float], losses: Sequence[float], tol: float = 0.0) -> list[dict[str, float]]:
    r"""Non-monotone stretches of a path: where the loss rises above the last descent point.

    A bump starts at the grid point before the loss first exceeds the reference (the last
    point reached while descending) by more than ``tol`` and ends at the first point where
    the loss is back at or below the reference (or at the end of the path, ``open=1``).

    Returns:
        ``[{"start", "end", "width", "height", "open"}]``, height = peak minus reference.

    Example:
        >>> bumps([0.0, 0.5, 1.0], [2.0, 3.0, 1.0])
        [{'start': 0.0, 'end': 1.0, 'width': 1.0, 'height': 1.0, 'open': 0.0}]

    References:
        Lucas et al. (ICML 2021), ``eval_monotonic``; docs/papers/interpolation.md#method.
    """
    a = [float(v) for v in alphas]
    l = [float(v) for v in losses]
    if len(a) != len(l):
        raise ValueError(f"alphas and losses differ in length: {len(a)} and {len(l)}")
    out: list[dict[str, float]] = []
    if not l:
        return out
    ref, start, peak = l[0], None, -math.inf
    for k in range(1, len(l)):
        if start is None:
            if l[k] > ref + tol:
                start, peak = k - 1, l[k]
            else:
                ref = l[k]
        else:
            peak = max(peak, l[k])
            if l[k] <= ref:
                out.append(
                    {"start": a[start], "end": a[k], "width": a[k] - a[start], "height": peak - ref, "open": 0.0}
                )
                start, ref = None, l[k]
    if start is not None:
        out.append({"start": a[start], "end": a[-1], "width": a[-1] - a[start], "height": peak - ref, "open": 1.0})
    return out


def barrier_over_chord(alphas: Sequence[float], losses: Sequence[float]) -> float:
    r"""``max_alpha [L(alpha) - ((1 - t) L(alpha_0) + t L(alpha_K))]``, t the position on the grid.

    Zero or positive when the grid includes both endpoints (0 for a convex path).

    Example:
        >>> barrier_over_chord([0.0, 0.5, 1.0], [2.0, 3.0, 0.0])  # the chord is 1.0 at alpha = 0.5
        2.0

    References:
        Frankle et al. (ICML 2020), the loss barrier of linear mode connectivity; used here on
        the init-to-final path of Vlaar & Frankle (ICML 2022).
    """
    a = [float(v) for v in alphas]
    l = [float(v) for v in losses]
    if len(a) != len(l) or not a:
        raise ValueError("alphas and losses must be non-empty and of equal length")
    span = a[-1] - a[0]
    best = -math.inf
    for x, y in zip(a, l):
        t = (x - a[0]) / span if span else 0.0
        best = max(best, y - ((1 - t) * l[0] + t * l[-1]))
    return best


def alpha_drop(alphas: Sequence[float], losses: Sequence[float], threshold: float) -> float:
    """The first grid alpha with ``L(alpha) < threshold`` (NaN when the loss never drops below it).

    Example:
        >>> alpha_drop([0.0, 0.5, 1.0], [2.3, 0.9, 0.1], threshold=1.0)
        0.5

    References:
        Our measure of where the path's plateau ends (docs/papers/interpolation.md#method): quick
        threshold 1.0 on the training loss; Vlaar & Frankle (ICML 2022), Sec. 4 (plateau then cliff).
    """
    for x, y in zip(alphas, losses):
        if float(y) < threshold:
            return float(x)
    return math.nan


def param_distance(
    a: nn.Module | Mapping[str, Tensor],
    b: nn.Module | Mapping[str, Tensor],
    groups: Mapping[str, Sequence[str]] | None = None,
    parameters_only: nn.Module | None = None,
) -> float | dict[str, float]:
    r"""``||theta_b - theta_a||_2`` over floating entries, whole or per group.

    Args:
        a, b: modules (parameters only) or state dicts (every floating entry, or only the
            parameters of ``parameters_only`` when given).
        groups: ``{name: prefixes}``; returns one distance per group.
        parameters_only: a module whose parameter names restrict state-dict inputs.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> moved = {k: v + 1 for k, v in net.state_dict().items()}  # 3 entries each moved by 1
        >>> round(param_distance(net.state_dict(), moved), 6) == round(3**0.5, 6)
        True

    References:
        Vlaar & Frankle (ICML 2022), Sec. 4: the distance travelled from the initialisation.
    """

    def flat(src: nn.Module | Mapping[str, Tensor]) -> dict[str, Tensor]:
        if isinstance(src, nn.Module):
            return {k: v.detach() for k, v in src.named_parameters()}
        return {k: v for k, v in src.items() if torch.is_floating_point(v)}

    fa, fb = flat(a), flat(b)
    if parameters_only is not None:
        names = {n for n, _ in parameters_only.named_parameters()}
        fa = {k: v for k, v in fa.items() if k in names}

    def dist(prefixes: Sequence[str] | None) -> float:
        total = 0.0
        for k, v in fa.items():
            if _in_groups(k, prefixes):
                total += float(torch.sum((fb[k].double() - v.double()) ** 2))
        return math.sqrt(total)

    if groups is None:
        return dist(None)
    return {name: dist(list(prefixes)) for name, prefixes in groups.items()}


def random_direction(
    model: nn.Module, normalization: str = "filter", generator: torch.Generator | None = None, ignore_1d: bool = True
) -> dict[str, Tensor]:
    r"""A Gaussian direction in parameter space, normalised as in Li et al. (2018).

    ``filter``: each slice ``d[i]`` (output filter / row) rescaled to ``||theta[i]||``;
    ``layer``: each tensor rescaled to ``||theta||`` of that tensor; ``model``: the whole
    direction rescaled to ``||theta||``. With ``ignore_1d``, 1-D parameters (biases,
    BatchNorm) are zero, as in Li et al.

    Returns:
        ``{parameter name: direction}``.

    Example:
        >>> net = nn.Linear(3, 2)
        >>> d = random_direction(net, generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(d["weight"].norm(dim=1), net.weight.detach().norm(dim=1)), bool((d["bias"] == 0).all())
        (True, True)

    References:
        H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein. Visualizing the loss landscape of
        neural nets. NeurIPS 2018, Sec. 4.
    """
    check_choice("normalization", normalization, ("filter", "layer", "model"))
    out: dict[str, Tensor] = {}
    for name, p in model.named_parameters():
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        if ignore_1d and p.ndim <= 1:
            d = torch.zeros_like(p.detach())
        elif normalization == "filter" and p.ndim > 1:
            dims = tuple(range(1, p.ndim))
            d = d * (p.detach().norm(dim=dims, keepdim=True) / (d.norm(dim=dims, keepdim=True) + 1e-10))
        elif normalization in ("filter", "layer"):
            d = d * (p.detach().norm() / (d.norm() + 1e-10))
        out[name] = d
    if normalization == "model":
        norm_p = math.sqrt(
            sum(float(p.detach().norm()) ** 2 for n, p in model.named_parameters() if not (ignore_1d and p.ndim <= 1))
        )
        norm_d = math.sqrt(sum(float(d.norm()) ** 2 for d in out.values()))
        out = {k: v * (norm_p / (norm_d + 1e-10)) for k, v in out.items()}
    return out
