"""Paper 11, ``time_then_graph``: temporal vs static equivariant graph representations (Gao & Ribeiro, ICML 2022).

Claim: with 1-WL GNN components, time-then-graph (sequence models on every node's and
edge's history, then one static GNN on the union graph) is strictly more expressive than
time-and-graph (a GNN per snapshot, node states mixed over time); on a task built for it
time-then-graph succeeds where time-and-graph fails, and on some real tasks it is better
and cheaper.

Quick A (expressivity, block ``dyncsl``): the DynCSL-like task (19-node 4-regular circulant
snapshots, constant features, 6 patterns of shared skip jumps; our construction, the
authors' file is not obtainable): time-and-graph (sum-GNN per snapshot -> GRU) vs
time-then-graph (edge and node GRUs -> 2-layer sum-GNN), plus the order-blind
presence-count ablation. Quick B (real data, block ``covid``): England-COVID, 7-day window
-> next day, transductive node split 7/1/2: GRU-GCN vs a correct GCN-GRU, EvolveGCN-O,
EvolveGCN-H and GConvGRU (GCRN, graph convolutions in every gate; all ours), trained
interleaved; RMSE and median ms/epoch. Quick C (block ``persistent``, the cost regime of the
paper's efficiency argument): one random graph of 2000 nodes whose unweighted edges persist
over T = 16 steps; GRU-GCN vs GConvGRU (and GCN-GRU), interleaved, median ms/epoch.

``paper``: the shortened GPU check at scale (2000 / 1000 DynCSL-like graphs; EngCOVID 100
epochs). The faithful tables need the authors' data bundle (not available); see
``docs/papers/time_then_graph.md#deviations-from-the-paper``.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from icml22dl.data.temporal_graphs import (
    DynamicGraphSignal,
    dyncsl_like,
    forecast_windows,
    load_england_covid,
    node_split,
    persistent_graph_signal,
)
from icml22dl.papers.blocks import Optim
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    check_finite,
    derive_generator,
    load_claim,
    param,
    torch_seeded,
)
from icml22dl.runner.device import resolve_device

TASKS = ("dyncsl", "covid", "persistent")
#: England-COVID models: time-then-graph first, then the time-and-graph baselines.
COVID_MODELS = ("ttg", "gcngru", "evolvegcno", "evolvegcnh", "gconvgru")
#: The cost regime's models: time-then-graph, GCRN's GConvGRU (the gate) and GCN-GRU (shown).
PERSISTENT_MODELS = ("ttg", "gconvgru", "gcngru")


@dataclass(frozen=True)
class DynCSL(ConfigBlock):
    """Quick A: the DynCSL-like expressivity task and the training of its models."""

    train_graphs: int = param(240, low=6, help="DynCSL-like training graphs (quick 240)")
    test_graphs: int = param(120, low=6, help="DynCSL-like test graphs (quick 120)")
    nodes: int = param(19, low=5, help="nodes per graph, odd (official DynCSL 19)")
    patterns: int = param(6, low=2, high=6, help="classes (6 patterns of shared skip jumps)")
    hidden: int = param(32, low=1, help="model width (quick 32)")
    opt: Optim = param(Optim(name="adam", lr=3e-3), help="Adam, lr 3e-3 (quick), no weight decay")
    epochs: int = param(40, low=1, help="training epochs (quick 40)")
    batch: int = param(48, low=1, help="graphs per batch (disjoint union)")
    count_ablation: bool = param(True, help="also train the presence-count (order-blind) TtG ablation")

    def check(self) -> None:
        if self.nodes % 2 == 0:
            raise ValueError(f"DynCSL.nodes={self.nodes} must be odd (circulant jumps 2..(n-1)/2)")


@dataclass(frozen=True)
class Covid(ConfigBlock):
    """Quick B: England-COVID next-day forecasting and the training of its models."""

    window: int = param(7, low=1, help="input days (official 7)")
    horizon: int = param(1, low=1, help="days ahead (official 1)")
    hidden: int = param(16, low=1, help="model width (official 16)")
    opt: Optim = param(Optim(name="adam", lr=1e-3, weight_decay=1e-5), help="Adam (official lr 1e-3, wd 1e-5)")
    clip: float = param(1.0, low=0.0, low_inclusive=False, help="gradient value clip (official 1.0)")
    epochs: int = param(40, low=1, help="epochs (official 100; quick 40 for the time budget)")
    batch: int = param(8, low=1, help="windows per batch (disjoint union)")
    split: tuple[int, ...] = param((7, 1, 2), low=1, help="transductive node split train/val/test parts (official)")
    buggy_baseline: bool = param(False, help="also train the official edge-blind GCN-GRU (ignore_edges=True)")

    def check(self) -> None:
        if len(self.split) != 3:
            raise ValueError(f"Covid.split={self.split!r} needs three parts (train, val, test)")


@dataclass(frozen=True)
class Persistent(ConfigBlock):
    """Quick C: the cost regime: one random graph with persistent, unweighted edges, thousands of nodes."""

    nodes: int = param(2000, low=10, help="N (quick 2000)")
    degree: int = param(10, low=2, help="mean degree (even)")
    window: int = param(16, low=1, help="T, snapshots per window (quick 16; the regime T 8-32)")
    windows: int = param(4, low=2, help="windows: all but the last train, the last tests")
    hidden: int = param(16, low=1, help="model width (as England-COVID)")
    order: int = param(2, low=1, help="Chebyshev order K of GConvGRU (GCRN K >= 2)")
    opt: Optim = param(Optim(name="adam", lr=1e-3, weight_decay=1e-5), help="Adam (as England-COVID)")
    epochs: int = param(6, low=1, help="epochs, interleaved across the models (the median epoch is timed)")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the time-then-graph experiment.

    Defaults: the quick preset (``docs/papers/time_then_graph.md#defaults``).
    """

    tasks: tuple[str, ...] = param(TASKS, help="dyncsl (Quick A), covid (Quick B), persistent (Quick C)")
    dyncsl: DynCSL = param(DynCSL(), help="Quick A: the DynCSL-like task")
    covid: Covid = param(Covid(), help="Quick B: England-COVID forecasting")
    persistent: Persistent = param(Persistent(), help="Quick C: the cost regime (persistent unweighted edges)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        if not self.tasks or any(t not in TASKS for t in self.tasks):
            raise ValueError(f"Config.tasks={self.tasks!r} must be a non-empty subset of {TASKS}")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        dyncsl=DynCSL(train_graphs=2000, test_graphs=1000, epochs=40, batch=100),
        covid=Covid(epochs=100, buggy_baseline=True),
        device="auto",
    ),
}


def _logger(log: RunLog, prefix: str) -> Callable[[int, dict[str, float]], None]:
    """``on_epoch`` that logs every value as ``<prefix>/<name>``."""

    def on_epoch(epoch: int, values: dict[str, float]) -> None:
        log.metrics(epoch, **{f"{prefix}/{k}": v for k, v in values.items()})

    return on_epoch


def _dyncsl_model(block: DynCSL, kind: str) -> torch.nn.Module:
    from icml22dl.graphs import GCNGRU, TimeThenGraph

    if kind == "tag":
        return GCNGRU(1, block.patterns, block.hidden, gnn="sum", act="tanh", readout="mean")
    edge_encoder = "seq" if kind == "ttg" else "count"
    return TimeThenGraph(
        2, 2, block.patterns, block.hidden, gnn="sum", act="tanh", readout="mean", edge_encoder=edge_encoder
    )


def _run_dyncsl(block: DynCSL, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    """Quick A: TaG, TtG and the presence-count TtG on the DynCSL-like task; test accuracies."""
    from icml22dl.graphs import WindowAggregator, fit_graph_batches, temporal_batches

    started = time.perf_counter()
    gen = derive_generator(seed, 0)
    train = dyncsl_like(block.train_graphs, block.nodes, patterns=block.patterns, generator=gen)
    test = dyncsl_like(block.test_graphs, block.nodes, patterns=block.patterns, generator=gen)
    aggregate = WindowAggregator(pad_value=-1.0, time_feature="inc")
    order = torch.randperm(len(train), generator=gen).tolist()  # mix the cycling labels across batches
    train_batches = [b.to(device) for b in temporal_batches([train[i] for i in order], block.batch, aggregate)]
    test_batches = [b.to(device) for b in temporal_batches(test, block.batch, aggregate)]
    metrics = {"dyncsl_prepare_s": time.perf_counter() - started}
    torch_seed = int(torch.randint(2**62, (1,), generator=derive_generator(seed, 1)))
    for kind in ("tag", "ttg") + (("count",) if block.count_ablation else ()):
        inputs = operator.attrgetter("signal" if kind == "tag" else "aggregated")

        def loss_fn(m, b, inputs=inputs):
            return F.cross_entropy(m(inputs(b)), b.signal.label)

        def evaluate(m, inputs=inputs):
            correct = sum((m(inputs(b)).argmax(1) == b.signal.label).sum().item() for b in test_batches)
            return {"test_acc": correct / len(test)}

        with torch_seeded(torch_seed):  # paired: every model starts from the same global stream
            model = _dyncsl_model(block, kind).to(device)
            result = fit_graph_batches(
                model,
                block.opt.build(model.parameters()),
                train_batches,
                loss_fn,
                epochs=block.epochs,
                generator=derive_generator(seed, 2),
                evaluate=evaluate,
                on_epoch=_logger(log, f"dyncsl/{kind}"),
            )
        metrics[f"dyncsl_{kind}_acc"] = result.history[-1]["test_acc"]
        metrics[f"dyncsl_{kind}_train_loss"] = result.history[-1]["train_loss"]
        metrics[f"dyncsl_{kind}_ms_per_epoch"] = result.ms_per_epoch
    metrics["dyncsl_chance"] = 1.0 / block.patterns
    metrics["dyncsl_wall_s"] = time.perf_counter() - started
    return metrics


def _covid_data(block: Covid, seed: int):
    """Standardised windows, the node split, the shuffled training batches and the full batch."""
    from icml22dl.graphs import WindowAggregator, temporal_batches

    signal = load_england_covid()
    gen = derive_generator(seed, 3)
    masks = node_split(signal.num_nodes, block.split, gen)
    cases, flows = signal.targets, signal.edge_weights
    if cases is None or flows is None:
        raise ValueError("England-COVID needs its case counts and mobility flows")
    mean, std = cases[:, masks[0]].mean(), cases[:, masks[0]].std()  # training nodes only
    normalised = (cases - mean) / std
    weights = [torch.log1p(w) for w in flows]  # flows span 1..1e5: log scale
    base = DynamicGraphSignal(signal.edge_indices, weights, normalised[:, :, None].clone(), targets=normalised)
    windows = forecast_windows(base, block.window, block.horizon)
    aggregate = WindowAggregator(pad_value=-1.0, time_feature="inc")
    order = torch.randperm(len(windows), generator=gen).tolist()
    prep = time.perf_counter()
    batches = temporal_batches([windows[j] for j in order], block.batch, aggregate)
    prep = time.perf_counter() - prep
    (full,) = temporal_batches(windows, len(windows), aggregate)
    return batches, full, masks, len(windows), prep


def _node_model(kind: str, hidden: int, order: int = 2) -> torch.nn.Module:
    """The node-regression models of Quick B and C (one input feature, one output)."""
    from icml22dl.graphs import GCNGRU, EvolveGCNH, EvolveGCNO, GConvGRU, TimeThenGraph

    if kind == "ttg":
        return TimeThenGraph(2, 2, 1, hidden, gnn="gcn", act="softplus", readout="node")
    if kind == "evolvegcno":
        return EvolveGCNO(1, 1, hidden, act="softplus")
    if kind == "evolvegcnh":
        return EvolveGCNH(1, 1, hidden, act="softplus")
    if kind == "gconvgru":
        return GConvGRU(1, 1, hidden, order=order, act="softplus")
    return GCNGRU(1, 1, hidden, gnn="gcn", act="softplus", ignore_edges=kind == "gcngru_official")


def _interleaved(
    kinds: tuple[str, ...],
    build: Callable[[str], torch.nn.Module],
    opt: Optim,
    data: tuple[list, list[torch.Tensor] | None, Any],
    plan: tuple[int, float | None, int, int],
    log: RunLog,
    prefix: str,
) -> dict[str, Any]:
    """Build every model from the same torch seed, train them interleaved epoch by epoch; their results.

    ``data`` = (training batches, node masks or None, evaluation batch): with masks
    (train, val, test), repeated over a batch's windows, only train nodes train and each
    part gets an RMSE; without, every node trains and the evaluation batch gives ``test_rmse``.
    ``plan`` = (epochs, clip, torch seed, run seed): the batch order of every model comes
    from ``derive_generator(run seed, 5)``, as when each was trained alone.
    """
    from icml22dl.graphs import GraphTrainer, fit_interleaved

    batches, masks, full = data
    epochs, clip, torch_seed, seed = plan
    trainers = []
    for kind in kinds:
        inputs = operator.attrgetter("aggregated" if kind == "ttg" else "signal")

        def loss_fn(m, b, inputs=inputs):
            y = b.signal.targets.reshape(-1)
            pred = m(inputs(b)).squeeze(-1)
            if masks is None:
                return F.mse_loss(pred, y)
            train = masks[0].repeat(len(y) // len(masks[0]))
            return F.mse_loss(pred[train], y[train])

        def evaluate(m, inputs=inputs):
            pred, y = m(inputs(full)).squeeze(-1), full.signal.targets.reshape(-1)
            if masks is None:
                return {"test_rmse": F.mse_loss(pred, y).sqrt().item()}
            sel = [mask.repeat(len(y) // len(masks[0])) for mask in masks]
            return {f"{n}_rmse": F.mse_loss(pred[s], y[s]).sqrt().item() for n, s in zip(("train", "val", "test"), sel)}

        with torch_seeded(torch_seed):  # paired: every model starts from the same global stream
            model = build(kind)
        trainers.append(
            GraphTrainer(
                model,
                opt.build(model.parameters()),
                batches,
                loss_fn,
                generator=derive_generator(seed, 5),
                clip=clip,
                evaluate=evaluate,
                on_epoch=_logger(log, f"{prefix}/{kind}"),
            )
        )
    return dict(zip(kinds, fit_interleaved(trainers, epochs)))


def _run_covid(block: Covid, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    """Quick B: GRU-GCN (TtG) vs four time-and-graph models on England-COVID, interleaved; RMSE and ms/epoch."""
    started = time.perf_counter()
    batches, full, masks, num_windows, prep = _covid_data(block, seed)
    data = ([b.to(device) for b in batches], [m.to(device) for m in masks], full.to(device))
    metrics = {"covid_windows": float(num_windows), "covid_aggregate_s": prep}
    torch_seed = int(torch.randint(2**62, (1,), generator=derive_generator(seed, 4)))
    kinds = COVID_MODELS + (("gcngru_official",) if block.buggy_baseline else ())
    results = _interleaved(
        kinds,
        lambda kind: _node_model(kind, block.hidden).to(device),
        block.opt,
        data,
        (block.epochs, block.clip, torch_seed, seed),
        log,
        "covid",
    )
    for kind, result in results.items():
        best = min(range(len(result.history)), key=lambda i: result.history[i]["val_rmse"])
        metrics[f"covid_{kind}_val_rmse"] = result.history[best]["val_rmse"]
        metrics[f"covid_{kind}_test_rmse"] = result.history[best]["test_rmse"]
        metrics[f"covid_{kind}_best_epoch"] = float(best + 1)
        metrics[f"covid_{kind}_ms_per_epoch"] = result.median_ms_per_epoch
    best_tag = min(metrics[f"covid_{kind}_test_rmse"] for kind in COVID_MODELS[1:])
    metrics["covid_rmse_ratio"] = metrics["covid_ttg_test_rmse"] / best_tag
    first_pair = min(metrics["covid_gcngru_test_rmse"], metrics["covid_evolvegcno_test_rmse"])  # the old comparison
    metrics["covid_rmse_ratio_gcngru_evolvegcno"] = metrics["covid_ttg_test_rmse"] / first_pair
    for kind in COVID_MODELS[1:]:
        metrics[f"covid_{kind}_speed_ratio"] = metrics["covid_ttg_ms_per_epoch"] / metrics[f"covid_{kind}_ms_per_epoch"]
    metrics["covid_speed_ratio"] = metrics["covid_gcngru_speed_ratio"]
    metrics["covid_wall_s"] = time.perf_counter() - started
    return metrics


def _run_persistent(block: Persistent, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    """Quick C: GRU-GCN vs GConvGRU (and GCN-GRU) on persistent unweighted edges, interleaved; median ms/epoch."""
    from icml22dl.graphs import WindowAggregator, temporal_batches

    started = time.perf_counter()
    gen = derive_generator(seed, 6)
    steps = block.window + block.windows
    signal = persistent_graph_signal(block.nodes, block.degree, steps, generator=gen)
    windows = forecast_windows(signal, block.window, 1)[: block.windows]
    batches = temporal_batches(windows, 1, WindowAggregator(pad_value=-1.0, time_feature="inc"))
    batches = [b.to(device) for b in batches]
    metrics = {"persistent_edges": float(signal.edge_indices[0].shape[1]), "persistent_steps": float(block.window)}
    torch_seed = int(torch.randint(2**62, (1,), generator=derive_generator(seed, 7)))
    results = _interleaved(
        PERSISTENT_MODELS,
        lambda kind: _node_model(kind, block.hidden, block.order).to(device),
        block.opt,
        (batches[:-1], None, batches[-1]),
        (block.epochs, None, torch_seed, seed),
        log,
        "persistent",
    )
    for kind, result in results.items():
        metrics[f"persistent_{kind}_ms_per_epoch"] = result.median_ms_per_epoch
        metrics[f"persistent_{kind}_test_rmse"] = result.history[-1]["test_rmse"]
        metrics[f"persistent_{kind}_first_test_rmse"] = result.history[0]["test_rmse"]
    ttg = metrics["persistent_ttg_ms_per_epoch"]
    metrics["persistent_speed_ratio"] = ttg / metrics["persistent_gconvgru_ms_per_epoch"]
    metrics["persistent_gcngru_speed_ratio"] = ttg / metrics["persistent_gcngru_ms_per_epoch"]
    metrics["persistent_wall_s"] = time.perf_counter() - started
    return metrics


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Quick A (DynCSL-like accuracies) and Quick B (EngCOVID RMSE and speed) for one seed."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {}
    if "dyncsl" in config.tasks:
        metrics.update(_run_dyncsl(config.dyncsl, seed, log, device))
    if "covid" in config.tasks:
        metrics.update(_run_covid(config.covid, seed, log, device))
    if "persistent" in config.tasks:
        metrics.update(_run_persistent(config.persistent, seed, log, device))
    metrics["run_wall_s"] = time.perf_counter() - started
    for value in metrics.values():
        if not math.isfinite(value):
            check_finite(value, 0, metrics)
    return metrics


PAPER = Paper(
    slug="time_then_graph",
    data={"quick": ("england-covid",), "paper": ("england-covid",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("time_then_graph"),
    components=(
        "graphs.TimeThenGraph",
        "graphs.WindowAggregator",
        "graphs.HistoryEncoder",
        "graphs.GCNGRU",
        "graphs.EvolveGCNO",
        "graphs.EvolveGCNH",
        "graphs.GConvGRU",
        "graphs.history_groups",
        "graphs.temporal_batches",
        "graphs.fit_graph_batches",
        "graphs.fit_interleaved",
        "data.DynamicGraphSignal",
        "data.dyncsl_like",
        "data.load_england_covid",
        "data.forecast_windows",
        "data.node_split",
        "data.persistent_graph_signal",
    ),
    curves=(
        Curve(
            "DynCSL-like test accuracy (TaG, TtG, presence-count TtG)",
            ("dyncsl/tag/test_acc", "dyncsl/ttg/test_acc", "dyncsl/count/test_acc"),
            ylabel="accuracy",
        ),
        Curve(
            "England-COVID validation RMSE (normalised)",
            tuple(f"covid/{kind}/val_rmse" for kind in COVID_MODELS),
            ylabel="RMSE",
            logy=True,
        ),
        Curve(
            "Persistent-edge cost regime: test RMSE of the next step",
            tuple(f"persistent/{kind}/test_rmse" for kind in PERSISTENT_MODELS),
            ylabel="RMSE",
        ),
    ),
    summary=(
        "dyncsl_tag_acc",
        "dyncsl_ttg_acc",
        "dyncsl_count_acc",
        *(f"covid_{kind}_test_rmse" for kind in COVID_MODELS),
        *(f"covid_{kind}_ms_per_epoch" for kind in COVID_MODELS),
        "covid_rmse_ratio",
        *(f"persistent_{kind}_ms_per_epoch" for kind in PERSISTENT_MODELS),
        *(f"persistent_{kind}_test_rmse" for kind in PERSISTENT_MODELS),
        "persistent_speed_ratio",
    ),
)
