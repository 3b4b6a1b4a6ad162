"""Test-wide settings: one intra-op thread and the shared data folder."""

import os
from pathlib import Path

import torch

torch.set_num_threads(1)
os.environ.setdefault("ICML22DL_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
