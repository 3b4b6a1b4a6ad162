"""Test-wide settings: one thread per test process, and the default data root.

Set before torch is imported, so each pytest-xdist worker (``python -m pytest -n 2``) runs
one intra-op thread and the workers share the cores instead of oversubscribing them.

The data sets are read from ``$ICML22DL_DATA`` when it is set; otherwise from the ``data``
folder of the development checkout, which sits beside the repository (see the README,
"Set-up").
"""

import os
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import torch  # noqa: E402  (after the thread settings)

torch.set_num_threads(1)
os.environ.setdefault("ICML22DL_DATA", str(Path(__file__).resolve().parents[2].joinpath("shared", "data")))
