"""Paper 6, ``local_augmentation``: LA-GNN (Liu et al., ICML 2022).

Claim: a conditional VAE of p(x_neighbour | x_centre) generates extra feature views that,
fed to a GNN beside the original features with a consistency loss, raise test accuracy
(on average +3.4 points for GCN over Cora, CiteSeer and PubMed).

Per dataset and seed, three paired models are trained from the same torch seed: the
plain GCN (hidden 16), the **consistency-only ablation** (the same GCN with the S-sample
consistency loss and no generated features) and LA-GCN (hidden 8 per branch, concat 1).
The ablation is printed beside LA-GCN: a pilot found it explains most of the gain at CPU
scale (``docs/papers/local_augmentation.md#claim-and-thresholds``).

``quick``: Cora (S 4, 300 epochs; CVAE 4 epochs at batch 256 / lr 1e-3) and CiteSeer (S 2,
200 epochs; CVAE with the official defaults, 10 epochs at batch 64 / lr 0.01), no U-score,
a bank of 16 generated matrices with no input dropout on them (a cost-saving deviation,
``docs/papers/local_augmentation.md#deviations-from-the-paper``). ``paper``: the official
``semi.sh`` LA-GCN settings (2000 epochs, S 4, official CVAE defaults with the U-score,
M = 100), fresh input dropout on every branch. ``gpu_check``: the shortened GPU check
(2000 epochs, U-score every 20 steps, 10 seeds via ``--seeds 0-9``).

The CVAE and its bank are pre-trained once per dataset from ``cvae.seed`` and shared by
the seeds, as the official scripts share one pre-trained generator across their 100 runs.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from icml22dl.data.planetoid import PlanetoidData, load_planetoid
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

DATASETS = ("cora", "citeseer")
MODELS = ("gcn", "cons", "la")


@dataclass(frozen=True)
class Backbone(ConfigBlock):
    """The GNN of the three paired models: the plain GCN / GAT, its consistency-only twin and LA-GCN / LA-GAT."""

    backbone: str = param("gcn", choices=("gcn", "gat"), help="backbone (official LA-GCN and LA-GAT)")
    gcn_hidden: int = param(16, low=1, help="plain / consistency-only GCN width (Kipf & Welling 16)")
    la_hidden: int = param(8, low=1, help="LA width per branch (official semi.sh 8)")
    heads: int = param(4, low=1, help="GAT heads per branch (official semi.sh 4); plain GAT uses 2x heads")
    concat: int = param(1, low=1, help="generated matrices per forward (official citation 1)")
    dropout: float = param(0.5, low=0.0, high=1.0, high_inclusive=False, help="dropout (official GCN 0.5, GAT 0.6)")
    generated_dropout: bool = param(False, help="input dropout on the generated matrices (official yes; quick no)")

    def build(self, kind: str, in_dim: int, num_classes: int) -> torch.nn.Module:
        """The ``kind`` model (``gcn``, ``cons``: concat 0; ``la``: ``concat`` generated inputs)."""
        from icml22dl.graphs import LAGAT, LAGCN

        concat = self.concat if kind == "la" else 0
        if self.backbone == "gcn":
            hidden = self.la_hidden if kind == "la" else self.gcn_hidden
            return LAGCN(in_dim, hidden, num_classes, concat, self.dropout, self.generated_dropout)
        heads = self.heads if kind == "la" else 2 * self.heads
        return LAGAT(
            in_dim,
            self.la_hidden,
            num_classes,
            concat=concat,
            heads=heads,
            dropout=self.dropout,
            generated_dropout=self.generated_dropout,
        )


@dataclass(frozen=True)
class CVAE(ConfigBlock):
    """The feature generator: the CVAE, its pre-training per dataset, the U-score selection and the bank."""

    epochs: tuple[int, ...] = param((4, 10), low=1, help="passes over the pairs per dataset (official 10; Cora 4)")
    batch: tuple[int, ...] = param((256, 64), low=1, help="batch per dataset (official 64; Cora 256)")
    lr: tuple[float, ...] = param(
        (1e-3, 0.01), low=0.0, low_inclusive=False, help="Adam lr per dataset (official 0.01; Cora 1e-3)"
    )
    hidden: int = param(256, low=1, help="hidden width (official 256)")
    latent: int = param(10, low=1, help="latent size (official 10)")
    u_score: bool = param(False, help="U-score checkpoint selection (official yes; quick no)")
    u_passes: int = param(100, low=1, help="M helper forwards per score (official num_models 100)")
    u_every: int = param(1, low=1, help="score every k CVAE steps (official 1)")
    u_warmup: int = param(200, low=0, help="steps before a checkpoint is kept (official 200)")
    bank_size: int = param(16, low=0, help="pre-decoded X_bar bank (quick 16); 0 = decode afresh per draw")
    seed: int = param(0, low=0, help="seed of the shared CVAE and bank (official: one generator for all runs)")


@dataclass(frozen=True)
class GATReport(ConfigBlock):
    """The paper's second backbone, reported beside the gate: GAT and LA-GAT, one pair per dataset and seed."""

    datasets: tuple[str, ...] = param(("cora",), help="Planetoid graphs of the GAT pair (quick Cora); () = off")
    samples: int = param(2, low=1, help="S of LA-GAT (official 4; quick 2 for time)")
    epochs: int = param(100, low=1, help="epochs of both GATs (official 2000; quick 100 for time)")
    heads: int = param(4, low=1, help="LA-GAT heads per branch (official 4); plain GAT uses 2x heads")
    hidden: int = param(8, low=1, help="width per head (official 8)")
    dropout: float = param(0.6, low=0.0, high=1.0, high_inclusive=False, help="dropout (official GAT 0.6)")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the LA-GNN experiment.

    Defaults: the quick preset (``docs/papers/local_augmentation.md#defaults``).
    """

    datasets: tuple[str, ...] = param(DATASETS, help="Planetoid graphs, public split (Cora and CiteSeer)")
    samples: tuple[int, ...] = param((4, 2), low=1, help="S per dataset (quick: Cora 4, CiteSeer 2; official 4)")
    epochs: tuple[int, ...] = param(
        (300, 200), low=1, help="epochs per dataset (quick: Cora 300, CiteSeer 200; official 2000)"
    )
    model: Backbone = param(Backbone(), help="the GNN backbone of the three paired models")
    opt: Optim = param(
        Optim(name="adam", lr=0.01, weight_decay=5e-4), help="Adam on all parameters (official lr 0.01, wd 5e-4)"
    )
    lam: float = param(1.0, low=0.0, help="consistency weight lambda (official lam 1.0)")
    temperature: float = param(0.5, low=0.0, low_inclusive=False, help="sharpening T (official tem 0.5)")
    cvae: CVAE = param(CVAE(), help="the CVAE feature generator, shared by the seeds")
    pairs: int = param(3, low=1, help="paired (consistency-only, LA) inits per dataset and seed: the gate's pairs")
    gat: GATReport = param(GATReport(), help="GAT and LA-GAT, reported (the paper's second backbone)")
    log_every: int = param(10, low=1, help="epochs between logged validation losses")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        for name in self.datasets:
            if name not in ("cora", "citeseer", "pubmed"):
                raise ValueError(f"Config.datasets contains {name!r}; allowed: cora, citeseer, pubmed")
        if not self.datasets:
            raise ValueError("Config.datasets is empty")
        per_dataset = {"samples": self.samples, "epochs": self.epochs}
        per_dataset.update({f"cvae.{f}": getattr(self.cvae, f) for f in ("epochs", "batch", "lr")})
        for field, value in per_dataset.items():
            if len(value) != len(self.datasets):
                raise ValueError(f"Config.{field}={value!r} needs one value per dataset ({len(self.datasets)})")
        for name in self.gat.datasets:
            if name not in self.datasets:
                raise ValueError(f"Config.gat.datasets contains {name!r}, not in Config.datasets={self.datasets!r}")
        if self.cvae.bank_size and self.cvae.bank_size < self.model.concat:
            raise ValueError(f"Config.cvae.bank_size={self.cvae.bank_size} must be 0 or >= concat={self.model.concat}")


_PAPER_CVAE = CVAE(epochs=(10, 10), batch=(64, 64), lr=(0.01, 0.01), u_score=True, bank_size=0)
PRESETS = {
    "quick": Config(),
    "paper": Config(
        samples=(4, 4),
        epochs=(2000, 2000),
        model=Backbone(generated_dropout=True),
        cvae=_PAPER_CVAE,
        gat=GATReport(datasets=DATASETS, samples=4, epochs=2000),
        log_every=50,
        device="auto",
    ),
    "gpu_check": Config(
        samples=(4, 4),
        epochs=(2000, 2000),
        model=Backbone(generated_dropout=True),
        cvae=_PAPER_CVAE.replace(u_every=20),
        gat=GATReport(datasets=DATASETS, samples=4, epochs=2000),
        log_every=50,
        device="auto",
    ),
}

#: Pre-trained generators of one (CVAE block, datasets, device) setting: (source, info) per dataset.
_GENERATORS: dict[tuple[tuple[CVAE, tuple[str, ...], str], str], tuple[Any, dict[str, float]]] = {}


def _u_score_selection(block: CVAE, data: PlanetoidData, device: torch.device, seed: int):
    """The official U-score helper: a plain GCN of width 32 trained 100 epochs on X_tilde."""
    from icml22dl.graphs import LAGCN, PlainBackbone, UScoreSelection, row_normalise

    with torch_seeded(seed):
        helper = PlainBackbone(LAGCN(data.num_features, 32, data.num_classes, concat=0)).to(device)
        selection = UScoreSelection(
            helper,
            data.edge_index.to(device),
            data.y.to(device),
            data.train_mask.to(device),
            passes=block.u_passes,
            every=block.u_every,
            warmup=block.u_warmup,
            update_epochs=20,
        )
        selection.train_helper(row_normalise(data.x.to(device)), epochs=100)
    return selection


def _generator(config: Config, name: str, data: PlanetoidData, device: torch.device):
    """Pre-train (or reuse) the dataset's CVAE and its source of X_bar; returns (source, info)."""
    from icml22dl.graphs import FeatureBank, FeatureCVAE, FreshDraws, neighbour_pairs, pretrain_cvae

    block, index = config.cvae, config.datasets.index(name)
    settings = (block, config.datasets, str(device))
    if (settings, name) in _GENERATORS:
        return _GENERATORS[settings, name]
    for stale in [k for k in _GENERATORS if k[0] != settings]:  # keep one setting's banks in memory
        del _GENERATORS[stale]
    started = time.perf_counter()
    gen = derive_generator(block.seed, 100 + DATASETS.index(name) if name in DATASETS else 199)
    x, edge_index = data.x.to(device), data.edge_index.to(device)
    selection = None
    if block.u_score:
        selection = _u_score_selection(block, data, device, int(torch.randint(2**62, (1,), generator=gen)))
    with torch_seeded(int(torch.randint(2**62, (1,), generator=gen))):  # the U-score passes use dropout
        cvae = FeatureCVAE(data.num_features, block.hidden, block.latent).to(device)
        cvae, history = pretrain_cvae(
            cvae,
            x,
            neighbour_pairs(edge_index, data.num_nodes),
            epochs=block.epochs[index],
            batch_size=block.batch[index],
            lr=block.lr[index],
            generator=gen,
            selection=selection,
        )
    check_finite(history["loss"][-1], len(history["loss"]))
    source = FeatureBank(cvae, x, block.bank_size, gen) if block.bank_size else FreshDraws(cvae, x)
    info = {
        "cvae_first_loss": history["loss"][0],
        "cvae_final_loss": history["loss"][-1],
        "cvae_steps": float(len(history["loss"])),
        "cvae_s": time.perf_counter() - started,
    }
    if history["u_score"]:
        info["cvae_best_u_score"] = max(history["u_score"])
    _GENERATORS[settings, name] = (source, info)
    return source, info


@dataclass(frozen=True)
class _Inputs:
    """One dataset's tensors on the device: features (sparse for GCN), graph, labels, masks."""

    x: torch.Tensor
    edge_index: torch.Tensor
    y: torch.Tensor
    masks: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    num_classes: int

    @classmethod
    def build(cls, data: PlanetoidData, device: torch.device, sparse: bool) -> _Inputs:
        from icml22dl.graphs import row_normalise

        x = row_normalise(data.x).to(device)
        if sparse:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                x = x.to_sparse_csr()  # dropout on stored values = dense input dropout, 10x cheaper
        masks = (data.train_mask.to(device), data.val_mask.to(device), data.test_mask.to(device))
        return cls(x, data.edge_index.to(device), data.y.to(device), masks, data.num_classes)


def _train(
    config: Config, model: Backbone, kind: str, inputs: _Inputs, source: Any, plan: tuple[int, int, int], **kw: Any
) -> tuple[Any, float]:
    """Train the ``kind`` model (gcn, cons, la) from ``torch_seed``; returns (LAResult, ms per epoch).

    ``plan`` = (torch seed, samples S, epochs); ``kw`` goes to ``train_local_augmentation``
    (the bank-draw ``generator``, the ``callback``).
    """
    from icml22dl.graphs import train_local_augmentation

    torch_seed, samples, epochs = plan
    num_features, num_classes = inputs.x.shape[1], inputs.num_classes
    with torch_seeded(torch_seed):  # paired: same init stream and dropout stream start
        net = model.build(kind, num_features, num_classes).to(inputs.x.device)
        tick = time.perf_counter()
        result = train_local_augmentation(
            net,
            inputs.x,
            inputs.edge_index,
            inputs.y,
            *inputs.masks,
            bank=source if kind == "la" else None,
            samples=1 if kind == "gcn" else samples,
            lam=0.0 if kind == "gcn" else config.lam,
            temperature=config.temperature,
            epochs=epochs,
            optimizer=config.opt.build(net.parameters()),
            **kw,
        )
    check_finite(result.train_loss, epochs)
    return result, (time.perf_counter() - tick) / epochs * 1e3


def _run_dataset(
    config: Config, index: int, seed: int, log: RunLog, device: torch.device, metrics: dict[str, float]
) -> list[float]:
    """GCN, consistency-only GCN and LA-GCN on one dataset, paired by one torch seed; then ``pairs - 1``
    more (consistency-only, LA) pairs. Adds accuracies and gaps; returns the ``pairs`` paired LA minus
    consistency-only differences."""
    name = config.datasets[index]
    data = load_planetoid(name)
    source, info = _generator(config, name, data, device)
    metrics.update({f"{name}_{k}": v for k, v in info.items()})
    inputs = _Inputs.build(data, device, sparse=config.model.backbone == "gcn")
    plan = (config.samples[index], config.epochs[index])
    differences = []
    for pair in range(config.pairs):
        stream = derive_generator(seed, index) if pair == 0 else derive_generator(seed, 1000 + 100 * index + pair)
        torch_seed = int(torch.randint(2**62, (1,), generator=stream))
        accs = {}
        for kind in MODELS if pair == 0 else MODELS[1:]:

            def callback(epoch: int, values: dict[str, float], kind: str = kind) -> None:
                if epoch % config.log_every == 0:
                    log.metrics(epoch, **{f"{name}/{kind}/{k}": v for k, v in values.items()})

            gen = derive_generator(seed, 10 + index if pair == 0 else 2000 + 100 * index + pair)
            result, ms = _train(
                config,
                config.model,
                kind,
                inputs,
                source,
                (torch_seed, *plan),
                generator=gen,
                callback=callback if pair == 0 else None,
            )
            accs[kind] = result.test_acc
            if pair == 0:
                metrics[f"{name}_{kind}_acc"] = result.test_acc
                metrics[f"{name}_{kind}_val_acc"] = result.val_acc
                metrics[f"{name}_{kind}_best_epoch"] = float(result.best_epoch)
                metrics[f"{name}_{kind}_ms_per_epoch"] = ms
        differences.append(accs["la"] - accs["cons"])
    metrics[f"{name}_la_gain"] = metrics[f"{name}_la_acc"] - metrics[f"{name}_gcn_acc"]
    metrics[f"{name}_cons_gain"] = metrics[f"{name}_cons_acc"] - metrics[f"{name}_gcn_acc"]
    metrics[f"{name}_la_minus_cons"] = sum(differences) / len(differences)
    return differences


def _run_gat(config: Config, seed: int, device: torch.device, metrics: dict[str, float]) -> None:
    """The second backbone, reported: GAT and LA-GAT (paired by one torch seed) on ``config.gat.datasets``."""
    block = config.gat
    model = Backbone(backbone="gat", heads=block.heads, la_hidden=block.hidden, dropout=block.dropout)
    for name in block.datasets:
        data = load_planetoid(name)
        source, _ = _generator(config, name, data, device)
        inputs = _Inputs.build(data, device, sparse=False)
        torch_seed = int(
            torch.randint(2**62, (1,), generator=derive_generator(seed, 3000 + config.datasets.index(name)))
        )
        for kind in ("gcn", "la"):  # "gcn" = the plain backbone (here GAT, 2x heads)
            gen = derive_generator(seed, 4000 + config.datasets.index(name))
            result, ms = _train(
                config, model, kind, inputs, source, (torch_seed, block.samples, block.epochs), generator=gen
            )
            label = "gat" if kind == "gcn" else "lagat"
            metrics[f"{name}_{label}_acc"] = result.test_acc
            metrics[f"{name}_{label}_ms_per_epoch"] = ms
        metrics[f"{name}_lagat_gain"] = metrics[f"{name}_lagat_acc"] - metrics[f"{name}_gat_acc"]


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """GCN, consistency-only GCN and LA-GCN per dataset (paired), then GAT and LA-GAT; accuracies and gaps."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {}
    differences: list[float] = []
    for index in range(len(config.datasets)):
        differences += _run_dataset(config, index, seed, log, device, metrics)
    if len(differences) > 1:  # the gate: every dataset's pairs pooled, with this seed's paired bound
        from icml22dl.graphs import paired_lower_bound

        metrics["la_minus_cons"], metrics["la_minus_cons_lcb"] = paired_lower_bound(differences, 0.95)
    if config.gat.datasets:
        _run_gat(config, seed, device, metrics)
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="local_augmentation",
    data={"quick": ("cora", "citeseer"), "paper": ("cora", "citeseer"), "gpu_check": ("cora", "citeseer")},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("local_augmentation"),
    components=(
        "graphs.FeatureCVAE",
        "graphs.pretrain_cvae",
        "graphs.u_score",
        "graphs.UScoreSelection",
        "graphs.FeatureBank",
        "graphs.FreshDraws",
        "graphs.LAGCN",
        "graphs.LAGAT",
        "graphs.LAGCNII",
        "graphs.PlainBackbone",
        "graphs.consistency_loss",
        "graphs.train_local_augmentation",
        "graphs.paired_lower_bound",
        "data.load_planetoid",
    ),
    curves=tuple(
        Curve(
            f"{name}: validation NLL (GCN, consistency only, LA-GCN)",
            tuple(f"{name}/{kind}/val_loss" for kind in MODELS),
            ylabel="NLL",
            logy=True,
        )
        for name in DATASETS
    ),
    summary=tuple(
        f"{name}_{k}"
        for name in DATASETS
        for k in ("gcn_acc", "cons_acc", "la_acc", "la_gain", "cons_gain", "la_minus_cons")
    )
    + ("la_minus_cons", "la_minus_cons_lcb", "cora_gat_acc", "cora_lagat_acc", "cora_lagat_gain"),
)
