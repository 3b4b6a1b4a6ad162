"""Side by side for paper 06 (``local_augmentation``): LA-GCN epochs and CVAE pre-training on Cora.

Ours (one thread):
  (1) CVAE pre-training with the U-score selection at the card's benchmark size: batch 64,
      one pass over the 10,556 pairs (165 steps), U-score M = 5 after every step, warm-up 20:
      seconds per step and peak RSS;
  (2) one LA-GCN training epoch (concat 1, S 4, hidden 8, 100 epochs timed, median of 3):
      - ``faithful``: the official semantics: a fresh X_bar decoded for every draw and input
        dropout on every branch (what the ``paper`` preset runs);
      - ``quick``: the quick preset's bank of 16 pre-decoded X_bar, no dropout on them.
The official code (SongtaoLiu0823/LAGNN, ``Citation/``) runs from outside the repository:
    LAGNN_PATH=/tmp/LAGNN/Citation   a copy of the official ``Citation`` folder with ``data/ind.cora.*``
    LAGNN_DEPS=/tmp/lagnn_deps       networkx (``pip install --target``; the official loader needs it)
Its two required patches are applied in memory, never on disk: networkx >= 3 returns a sparse
*array* (wrapped in ``csr_matrix``), and the shipped ``model/cora.pkl`` generator is absent, so the
official ``VAE`` is built and given **our** trained generator's weights (same generator both sides).
Official (1): ``cvae_pretrain.generated_generator`` with the same settings (its helper GCN's 100
epochs are timed separately and subtracted per step). Official (2): ``lagcn.py`` itself, run with
``--runs 1`` at two epoch counts; ms/epoch = difference of the wall times / difference of epochs.

Usage: ``ICML22DL_DATA=../shared/data LAGNN_PATH=/tmp/LAGNN/Citation LAGNN_DEPS=/tmp/lagnn_deps \
python benchmarks/local_augmentation_epoch.py``
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

from icml22dl.data import load_planetoid
from icml22dl.graphs import (LAGCN, FeatureBank, FeatureCVAE, UScoreSelection, neighbour_pairs, pretrain_cvae,
                             row_normalise, train_local_augmentation)

EPOCHS, REPEATS, SAMPLES = 100, 3, 4
OFFICIAL_EPOCHS = (int(os.environ.get("OFFICIAL_E1", "3")), int(os.environ.get("OFFICIAL_E2", "13")))


class _Fresh:
    def __init__(self, cvae, x):
        self.cvae, self.x = cvae, x

    def sample(self, k, generator=None):
        return [self.cvae.generate(self.x, generator) for _ in range(k)]


class _Helper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, edge_index):
        return self.model(x, [], edge_index)


def ours_pretraining(data):
    torch.manual_seed(0)
    helper = _Helper(LAGCN(data.num_features, 32, data.num_classes, concat=0))
    selection = UScoreSelection(helper, data.edge_index, data.y, data.train_mask, passes=5, every=1, warmup=20)
    xt = row_normalise(data.x)
    tick = time.perf_counter()
    for _ in range(100):
        selection.optimizer.zero_grad()
        torch.nn.functional.cross_entropy(helper(xt, data.edge_index)[data.train_mask],
                                          data.y[data.train_mask]).backward()
        selection.optimizer.step()
    helper_s = time.perf_counter() - tick
    cvae = FeatureCVAE(data.num_features)
    tick = time.perf_counter()
    cvae, history = pretrain_cvae(cvae, data.x, neighbour_pairs(data.edge_index, data.num_nodes), epochs=1,
                                  batch_size=64, lr=0.01, generator=torch.Generator().manual_seed(0),
                                  selection=selection)
    seconds = time.perf_counter() - tick
    steps = len(history["loss"])
    return cvae, {"steps": steps, "s_per_step": seconds / steps, "helper_s": helper_s,
                  "final_u_score": history["u_score"][-1], "best_u_score": max(history["u_score"]),
                  "final_loss": history["loss"][-1],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def ours_epoch(data, cvae, mode):
    x = row_normalise(data.x).to_sparse_coo()
    if mode == "faithful":
        source = _Fresh(cvae, data.x)
    else:
        source = FeatureBank(cvae, data.x, 16, torch.Generator().manual_seed(0))
    times = []
    for repeat in range(REPEATS):
        torch.manual_seed(repeat)
        model = LAGCN(data.num_features, 8, data.num_classes, concat=1, generated_dropout=(mode == "faithful"))
        tick = time.perf_counter()
        result = train_local_augmentation(model, x, data.edge_index, data.y, data.train_mask, data.val_mask,
                                          data.test_mask, bank=source, samples=SAMPLES, epochs=EPOCHS,
                                          generator=torch.Generator().manual_seed(repeat))
        times.append((time.perf_counter() - tick) / EPOCHS * 1e3)
    return statistics.median(times), result.test_acc


def _official_names(cvae: FeatureCVAE) -> dict[str, torch.Tensor]:
    inverse = {ours: theirs for theirs, ours in FeatureCVAE.OFFICIAL_NAMES.items()}
    out = {}
    for key, value in cvae.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        out[f"{inverse[prefix]}.{leaf}"] = value
    return out


_PATCHES = [
    ("adj = nx.adjacency_matrix(nx.from_dict_of_lists(graph))",
     "adj = sp.csr_matrix(nx.adjacency_matrix(nx.from_dict_of_lists(graph)))"),
]

_DRIVER = textwrap.dedent('''
    import argparse, json, resource, sys, time, types
    import numpy as np, scipy.sparse as sp, torch
    torch.set_num_threads(1)
    official, weights, task = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.path.insert(0, official)
    # networkx >= 3 patch, in memory: the official utils module, with its adjacency wrapped.
    source = open(official + "/utils.py").read()
    for old, new in PATCHES:
        assert old in source, old
        source = source.replace(old, new)
    utils = types.ModuleType("utils"); utils.__file__ = official + "/utils.py"; sys.modules["utils"] = utils
    sys.argv = [official + "/lagcn.py"]
    exec(compile(source, official + "/utils.py", "exec"), utils.__dict__)
    from cvae_models import VAE

    def official_vae(features_dim):
        vae = VAE(encoder_layer_sizes=[features_dim, 256], latent_size=10, decoder_layer_sizes=[256, features_dim],
                  conditional=True, conditional_size=features_dim)
        vae.load_state_dict(torch.load(weights))
        return vae

    if task == "pretrain":
        import cvae_pretrain
        from gcn.models import GCN
        adj, features, idx_train, idx_val, idx_test, labels = utils.load_data("cora")
        features = features.toarray()
        adj_n = utils.sparse_mx_to_torch_sparse_tensor(utils.normalize_adj(adj + sp.eye(adj.shape[0])))
        feats_n = torch.FloatTensor(utils.normalize_features(features))
        labels = torch.max(torch.LongTensor(labels), dim=1)[1]
        idx_train = torch.LongTensor(list(idx_train))
        args = argparse.Namespace(batch_size=64, latent_size=10, conditional=True, pretrain_lr=0.01, pretrain_epochs=1,
                                  num_models=5, warmup=20, update_epochs=20, cuda=False)
        torch.manual_seed(0)
        # Their helper GCN's 100 epochs, timed alone to subtract them.
        helper = GCN(nfeat=features.shape[1], nhid=32, nclass=7, dropout=0.5)
        opt = torch.optim.Adam(helper.parameters(), lr=0.01, weight_decay=5e-4)
        tick = time.perf_counter()
        for _ in range(100):
            opt.zero_grad()
            torch.nn.functional.nll_loss(torch.log_softmax(helper(feats_n, adj_n), 1)[idx_train],
                                         labels[idx_train]).backward()
            opt.step()
        helper_s = time.perf_counter() - tick
        tick = time.perf_counter()
        cvae_pretrain.generated_generator(args, torch.device("cpu"), adj, features, labels, feats_n, adj_n, idx_train)
        total = time.perf_counter() - tick
        print(json.dumps({"total_s": total, "helper_s": helper_s,
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    else:
        epochs = task
        script = open(official + "/lagcn.py").read()
        old = 'cvae_model = torch.load("{}/model/{}.pkl".format(exc_path, args.dataset))'
        assert old in script
        script = script.replace(old, "cvae_model = OFFICIAL_VAE(features.shape[1])")
        sys.argv = [official + "/lagcn.py", "--dataset", "cora", "--epochs", epochs, "--hidden", "8", "--concat", "1",
                    "--samples", "4", "--lr", "0.01", "--runs", "1"]
        namespace = {"__name__": "__main__", "OFFICIAL_VAE": official_vae}
        import io, contextlib
        tick = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            exec(compile(script, official + "/lagcn.py", "exec"), namespace)
        wall = time.perf_counter() - tick
        last = out.getvalue().strip().splitlines()[-1]
        print(json.dumps({"wall_s": wall, "result": last}))
''')


def official(cvae: FeatureCVAE, path: str, deps: str) -> dict[str, float] | None:
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "cora_generator.pt"
        torch.save(_official_names(cvae), weights)
        driver = Path(tmp) / "driver.py"
        driver.write_text(f"PATCHES = {_PATCHES!r}\n" + _DRIVER)
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([deps, path]))

        def call(task):
            out = subprocess.run([sys.executable, str(driver), path, str(weights), task], env=env, cwd=path,
                                 capture_output=True, text=True, check=False)
            if out.returncode:
                raise RuntimeError(out.stderr[-3000:])
            return json.loads(out.stdout.strip().splitlines()[-1])

        pre = call("pretrain")
        e1, e2 = OFFICIAL_EPOCHS
        w1, w2 = call(str(e1)), call(str(e2))
    return {"pretrain": pre, "ms_per_epoch": (w2["wall_s"] - w1["wall_s"]) / (e2 - e1) * 1e3,
            "walls": (w1["wall_s"], w2["wall_s"]), "result": w2["result"]}


def main() -> None:
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    data = load_planetoid("cora")
    cvae, pre = ours_pretraining(data)
    print(f"ours  CVAE pre-training, Cora, batch 64, {pre['steps']} steps, U-score M 5 every step, warm-up 20: "
          f"{pre['s_per_step']:.3f} s/step (helper GCN 100 epochs {pre['helper_s']:.2f} s), final U "
          f"{pre['final_u_score']:.4f}, best U {pre['best_u_score']:.4f}, final loss {pre['final_loss']:.1f}, "
          f"peak RSS {pre['peak_rss_mb']:.0f} MB")
    rows = {}
    for mode in ("faithful", "quick"):
        ms, acc = ours_epoch(data, cvae, mode)
        rows[mode] = ms
        print(f"ours  LA-GCN epoch ({mode}), concat 1, S 4, hidden 8: median {ms:.1f} ms/epoch over {REPEATS} x "
              f"{EPOCHS} epochs (last test acc {acc:.3f})")
    path, deps = os.environ.get("LAGNN_PATH"), os.environ.get("LAGNN_DEPS", "")
    if not path:
        print("official: LAGNN_PATH not set; no side-by-side run (see the module docstring)")
        return
    ref = official(cvae, path, deps)
    p = ref["pretrain"]
    steps = pre["steps"]
    official_step = (p["total_s"] - p["helper_s"]) / steps
    print(f"official CVAE pre-training, same settings: {official_step:.3f} s/step (pair building included; "
          f"helper {p['helper_s']:.2f} s subtracted), peak RSS {p['peak_rss_mb']:.0f} MB")
    print(f"official LA-GCN epoch (lagcn.py, concat 1, S 4, hidden 8): {ref['ms_per_epoch']:.1f} ms/epoch "
          f"(walls {ref['walls'][0]:.1f} s at {OFFICIAL_EPOCHS[0]} and {ref['walls'][1]:.1f} s at "
          f"{OFFICIAL_EPOCHS[1]} epochs); its output: {ref['result']}")
    print(f"ratio ours/official, CVAE s/step: {pre['s_per_step'] / official_step:.3f}")
    for mode, ms in rows.items():
        print(f"ratio ours/official, LA-GCN ms/epoch ({mode}): {ms / ref['ms_per_epoch']:.3f} (target <= 1.0)")


if __name__ == "__main__":
    main()
