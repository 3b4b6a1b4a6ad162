"""Paper 11, ``time_then_graph``: temporal vs static equivariant graph representations (Gao & Ribeiro, ICML 2022).

Claim: with 1-WL GNN components, time-then-graph (sequence models on every node's and
edge's history, then one static GNN on the union graph) is strictly more expressive than
time-and-graph (a GNN per snapshot, node states mixed over time); on a task built for it
time-then-graph succeeds where time-and-graph fails, and on some real tasks it is better
and cheaper.

Quick A (expressivity): the DynCSL-like task (19-node 4-regular circulant snapshots,
constant features, 6 patterns of shared skip jumps; our construction, the authors' file
is not obtainable): time-and-graph (sum-GNN per snapshot -> GRU) vs time-then-graph
(edge and node GRUs -> 2-layer sum-GNN), plus the order-blind presence-count ablation.
Quick B (real data): England-COVID, 7-day window -> next day, transductive node split
7/1/2: GRU-GCN vs a correct GCN-GRU and EvolveGCN-O (all ours), RMSE and ms/epoch.

``paper``: the card's shortened GPU check at scale (2000 / 1000 DynCSL-like graphs;
EngCOVID 100 epochs). The faithful tables need the authors' Dropbox bundle (not available).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from icml22dl.data.temporal_graphs import DynamicGraphSignal, dyncsl_like, load_england_covid
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device

TASKS = ("dyncsl", "covid")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the time-then-graph experiment (defaults: the quick preset, card 11 section 3)."""

    tasks: tuple[str, ...] = param(TASKS, help="dyncsl (Quick A) and/or covid (Quick B)")
    train_graphs: int = param(240, low=6, help="DynCSL-like training graphs (card quick 240)")
    test_graphs: int = param(120, low=6, help="DynCSL-like test graphs (card quick 120)")
    nodes: int = param(19, low=5, help="nodes per DynCSL-like graph (official DynCSL 19)")
    patterns: int = param(6, low=2, high=6, help="classes of the DynCSL-like task (card 6)")
    dyn_hidden: int = param(32, low=1, help="DynCSL-like model width (card quick 32)")
    dyn_lr: float = param(3e-3, low=0.0, low_inclusive=False, help="DynCSL-like Adam lr (card quick 3e-3)")
    dyn_epochs: int = param(40, low=1, help="DynCSL-like epochs (card quick 40)")
    dyn_batch: int = param(48, low=1, help="DynCSL-like graphs per batch (disjoint union)")
    count_ablation: bool = param(True, help="also train the presence-count (order-blind) TtG ablation")
    window: int = param(7, low=1, help="EngCOVID input days (official 7)")
    horizon: int = param(1, low=1, help="EngCOVID days ahead (official 1)")
    covid_hidden: int = param(16, low=1, help="EngCOVID width (official 16)")
    covid_lr: float = param(1e-3, low=0.0, low_inclusive=False, help="EngCOVID Adam lr (official 1e-3)")
    covid_wd: float = param(1e-5, low=0.0, help="EngCOVID weight decay (official 1e-5)")
    covid_clip: float = param(1.0, low=0.0, low_inclusive=False, help="gradient value clip (official 1.0)")
    covid_epochs: int = param(40, low=1, help="EngCOVID epochs (card 100; quick 40 for the time budget)")
    covid_batch: int = param(8, low=1, help="EngCOVID windows per batch (disjoint union)")
    split: tuple[int, ...] = param((7, 1, 2), low=1, help="transductive node split train/val/test parts (official)")
    buggy_baseline: bool = param(False, help="also train the official edge-blind GCN-GRU (ignore_edges=True)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        if not self.tasks or any(t not in TASKS for t in self.tasks):
            raise ValueError(f"Config.tasks={self.tasks!r} must be a non-empty subset of {TASKS}")
        if len(self.split) != 3:
            raise ValueError(f"Config.split={self.split!r} needs three parts (train, val, test)")
        if self.nodes % 2 == 0:
            raise ValueError(f"Config.nodes={self.nodes} must be odd (circulant jumps 2..(n-1)/2)")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        train_graphs=2000,
        test_graphs=1000,
        dyn_epochs=40,
        dyn_batch=100,
        covid_epochs=100,
        buggy_baseline=True,
        device="auto",
    ),
}


def _to(signal: DynamicGraphSignal, device: torch.device) -> DynamicGraphSignal:
    move = lambda t: None if t is None else t.to(device)  # noqa: E731
    return DynamicGraphSignal(
        [e.to(device) for e in signal.edge_indices],
        None if signal.edge_weights is None else [w.to(device) for w in signal.edge_weights],
        signal.features.to(device),
        move(signal.targets),
        move(signal.label),
        move(signal.batch),
    )


def _agg_to(agg, device: torch.device):
    from icml22dl.graphs.temporal import Aggregated

    return Aggregated(
        agg.edge_index.to(device),
        agg.edge_history.to(device),
        agg.node_history.to(device),
        None if agg.batch is None else agg.batch.to(device),
        agg.num_graphs,
        agg.pad_value,
    )


def _train_epochs(
    model,
    batches,
    loss_fn,
    epochs: int,
    lr: float,
    weight_decay: float,
    clip: float | None,
    generator: torch.Generator,
    evaluate,
    log: RunLog,
    prefix: str,
):
    """Shared loop: Adam, batches in a fresh order each epoch, ``evaluate()`` after each epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    train_time, history = 0.0, []
    for epoch in range(1, epochs + 1):
        model.train()
        tick = time.perf_counter()
        total = 0.0
        for i in torch.randperm(len(batches), generator=generator).tolist():
            optimizer.zero_grad()
            loss = loss_fn(model, batches[i])
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), clip)
            optimizer.step()
            total += loss.item()
        train_time += time.perf_counter() - tick
        check_finite(total, epoch)
        model.eval()
        with torch.no_grad():
            values = evaluate(model)
        values["train_loss"] = total / len(batches)
        history.append(values)
        log.metrics(epoch, **{f"{prefix}/{k}": v for k, v in values.items()})
    return history, train_time / epochs * 1e3


def _run_dyncsl(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    from icml22dl.graphs.temporal import GCNGRU, TimeThenGraph, WindowAggregator

    started = time.perf_counter()
    gen = derive_generator(seed, 0)
    train = dyncsl_like(config.train_graphs, config.nodes, patterns=config.patterns, generator=gen)
    test = dyncsl_like(config.test_graphs, config.nodes, patterns=config.patterns, generator=gen)
    aggregate = WindowAggregator(pad_value=-1.0, time_feature="inc")

    def batched(samples):
        out = []
        for i in range(0, len(samples), config.dyn_batch):
            signal = DynamicGraphSignal.collate(samples[i : i + config.dyn_batch])
            out.append((_to(signal, device), _agg_to(aggregate(signal), device)))
        return out

    order = torch.randperm(len(train), generator=gen).tolist()  # mix the cycling labels across batches
    train_batches, test_batches = batched([train[i] for i in order]), batched(test)
    metrics = {"dyncsl_prepare_s": time.perf_counter() - started}
    torch_seed = int(torch.randint(2**62, (1,), generator=derive_generator(seed, 1)))
    kinds = ("tag", "ttg") + (("count",) if config.count_ablation else ())
    for kind in kinds:
        torch.manual_seed(torch_seed)
        if kind == "tag":
            model = GCNGRU(1, config.patterns, config.dyn_hidden, gnn="sum", act="tanh", readout="mean")
        else:
            model = TimeThenGraph(
                2,
                2,
                config.patterns,
                config.dyn_hidden,
                gnn="sum",
                act="tanh",
                readout="mean",
                edge_encoder="seq" if kind == "ttg" else "count",
            )
        model.to(device)
        pick = (lambda b: b[0]) if kind == "tag" else (lambda b: b[1])

        def loss_fn(m, b, pick=pick):
            return F.cross_entropy(m(pick(b)), b[0].label)

        def evaluate(m, pick=pick):
            correct = sum((m(pick(b)).argmax(1) == b[0].label).sum().item() for b in test_batches)
            return {"test_acc": correct / len(test)}

        history, ms = _train_epochs(
            model,
            train_batches,
            loss_fn,
            config.dyn_epochs,
            config.dyn_lr,
            0.0,
            None,
            derive_generator(seed, 2),
            evaluate,
            log,
            f"dyncsl/{kind}",
        )
        metrics[f"dyncsl_{kind}_acc"] = history[-1]["test_acc"]
        metrics[f"dyncsl_{kind}_train_loss"] = history[-1]["train_loss"]
        metrics[f"dyncsl_{kind}_ms_per_epoch"] = ms
    metrics["dyncsl_chance"] = 1.0 / config.patterns
    metrics["dyncsl_wall_s"] = time.perf_counter() - started
    return metrics


def _covid_data(config: Config, seed: int):
    """Normalised windows, node split and the per-batch (signal, aggregate, target) triples."""
    from icml22dl.graphs.temporal import WindowAggregator

    signal = load_england_covid()
    n, steps = signal.num_nodes, signal.num_steps
    gen = derive_generator(seed, 3)
    perm = torch.randperm(n, generator=gen)
    parts = torch.tensor(config.split, dtype=torch.float64)
    bounds = (parts.cumsum(0) / parts.sum() * n).round().long().tolist()
    split_ids = (perm[: bounds[0]], perm[bounds[0] : bounds[1]], perm[bounds[1] :])
    masks = []
    for ids in split_ids:
        mask = torch.zeros(n, dtype=torch.bool)
        mask[ids] = True
        masks.append(mask)
    cases = signal.targets
    mean, std = cases[:, masks[0]].mean(), cases[:, masks[0]].std()
    normalised = (cases - mean) / std
    weights = [torch.log1p(w) for w in signal.edge_weights]  # flows span 1..1e5: log scale
    base = DynamicGraphSignal(signal.edge_indices, weights, normalised[:, :, None].clone(), targets=normalised)
    starts = list(range(steps - config.window - config.horizon + 1))
    aggregate = WindowAggregator(pad_value=-1.0, time_feature="inc")
    windows = []
    for s in starts:
        win = base.window(s, config.window)
        target = normalised[s + config.window + config.horizon - 1]
        windows.append(DynamicGraphSignal(win.edge_indices, win.edge_weights, win.features, targets=target[None]))
    order = torch.randperm(len(windows), generator=gen).tolist()
    batches = []
    prep = time.perf_counter()
    for i in range(0, len(order), config.covid_batch):
        group = [windows[j] for j in order[i : i + config.covid_batch]]
        batched = DynamicGraphSignal.collate(group)
        batches.append((batched, aggregate(batched), batched.targets.reshape(-1)))
    prep = time.perf_counter() - prep
    full = DynamicGraphSignal.collate(windows)
    everything = (full, aggregate(full), full.targets.reshape(-1))
    return batches, everything, masks, len(windows), prep


def _run_covid(config: Config, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    from icml22dl.graphs.temporal import GCNGRU, EvolveGCNO, TimeThenGraph

    started = time.perf_counter()
    batches, everything, masks, num_windows, prep = _covid_data(config, seed)
    batches = [(_to(s, device), _agg_to(a, device), y.to(device)) for s, a, y in batches]
    full_signal, full_agg, full_y = _to(everything[0], device), _agg_to(everything[1], device), everything[2].to(device)
    node_masks = [m.to(device) for m in masks]
    metrics = {"covid_windows": float(num_windows), "covid_aggregate_s": prep}
    torch_seed = int(torch.randint(2**62, (1,), generator=derive_generator(seed, 4)))
    kinds = ("ttg", "gcngru", "evolvegcno") + (("gcngru_official",) if config.buggy_baseline else ())
    h = config.covid_hidden
    for kind in kinds:
        torch.manual_seed(torch_seed)
        if kind == "ttg":
            model = TimeThenGraph(2, 2, 1, h, gnn="gcn", act="softplus", readout="node")
        elif kind == "evolvegcno":
            model = EvolveGCNO(1, 1, h, act="softplus")
        else:
            model = GCNGRU(1, 1, h, gnn="gcn", act="softplus", ignore_edges=kind == "gcngru_official")
        model.to(device)
        is_ttg = kind == "ttg"

        def loss_fn(m, b, is_ttg=is_ttg):
            signal, agg, y = b
            pred = m(agg if is_ttg else signal).squeeze(-1)
            train = node_masks[0].repeat(len(y) // len(node_masks[0]))
            return F.mse_loss(pred[train], y[train])

        def evaluate(m, is_ttg=is_ttg):
            pred = m(full_agg if is_ttg else full_signal).squeeze(-1)
            reps = len(full_y) // len(node_masks[0])
            out = {}
            for name, mask in zip(("train", "val", "test"), node_masks):
                sel = mask.repeat(reps)
                out[f"{name}_rmse"] = F.mse_loss(pred[sel], full_y[sel]).sqrt().item()
            return out

        history, ms = _train_epochs(
            model,
            batches,
            loss_fn,
            config.covid_epochs,
            config.covid_lr,
            config.covid_wd,
            config.covid_clip,
            derive_generator(seed, 5),
            evaluate,
            log,
            f"covid/{kind}",
        )
        best = min(range(len(history)), key=lambda i: history[i]["val_rmse"])
        metrics[f"covid_{kind}_val_rmse"] = history[best]["val_rmse"]
        metrics[f"covid_{kind}_test_rmse"] = history[best]["test_rmse"]
        metrics[f"covid_{kind}_best_epoch"] = float(best + 1)
        metrics[f"covid_{kind}_ms_per_epoch"] = ms
    best_tag = min(metrics["covid_gcngru_test_rmse"], metrics["covid_evolvegcno_test_rmse"])
    metrics["covid_rmse_ratio"] = metrics["covid_ttg_test_rmse"] / best_tag
    metrics["covid_speed_ratio"] = metrics["covid_ttg_ms_per_epoch"] / metrics["covid_gcngru_ms_per_epoch"]
    metrics["covid_wall_s"] = time.perf_counter() - started
    return metrics


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Quick A (DynCSL-like accuracies) and Quick B (EngCOVID RMSE and speed) for one seed."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {}
    if "dyncsl" in config.tasks:
        metrics.update(_run_dyncsl(config, seed, log, device))
    if "covid" in config.tasks:
        metrics.update(_run_covid(config, seed, log, device))
    metrics["run_wall_s"] = time.perf_counter() - started
    for key, value in metrics.items():
        if not math.isfinite(value):
            check_finite(value, 0, metrics)
    return metrics


PAPER = Paper(
    slug="time_then_graph",
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
        "data.DynamicGraphSignal",
        "data.dyncsl_like",
        "data.load_england_covid",
    ),
    curves=(
        Curve(
            "DynCSL-like test accuracy (TaG, TtG, presence-count TtG)",
            ("dyncsl/tag/test_acc", "dyncsl/ttg/test_acc", "dyncsl/count/test_acc"),
            ylabel="accuracy",
        ),
        Curve(
            "England-COVID validation RMSE (normalised)",
            ("covid/ttg/val_rmse", "covid/gcngru/val_rmse", "covid/evolvegcno/val_rmse"),
            ylabel="RMSE",
            logy=True,
        ),
    ),
    summary=(
        "dyncsl_tag_acc",
        "dyncsl_ttg_acc",
        "dyncsl_count_acc",
        "covid_ttg_test_rmse",
        "covid_gcngru_test_rmse",
        "covid_evolvegcno_test_rmse",
        "covid_ttg_ms_per_epoch",
        "covid_gcngru_ms_per_epoch",
        "covid_evolvegcno_ms_per_epoch",
    ),
)
