"""Inverse-problem components: forward operators, Langevin through generators, score priors.

Paper 15 (SGILO, Daras, Dagan, Dimakis, Daskalakis, ICML 2022): Langevin inversion of
random ReLU generators, CSGM and ILO baselines, VP-SDE score models in an intermediate
layer, and the score-guided solver.
"""

from icml22dl.inverse.generator import MLPVAE, invert_codes, train_vae
from icml22dl.inverse.ilo import Reconstruction, csgm, ilo, project_l1_ball
from icml22dl.inverse.langevin import ReLUGenerator, hv_field, langevin, random_relu_generator, stationary_covariance
from icml22dl.inverse.operators import Downsampler, GaussianOperator, Inpainting, LinearOperator, PartialCirculant
from icml22dl.inverse.rng import device_generator
from icml22dl.inverse.score import (
    VPSDE,
    FlatScoreViT,
    Normaliser,
    ScoreMLP,
    ScoreViT,
    dsm_loss,
    em_reverse_step,
    fourier_time_features,
    train_score,
)
from icml22dl.inverse.sgilo import SGILOResult, sgilo

__all__ = [
    "Downsampler",
    "FlatScoreViT",
    "GaussianOperator",
    "Inpainting",
    "LinearOperator",
    "MLPVAE",
    "Normaliser",
    "PartialCirculant",
    "ReLUGenerator",
    "Reconstruction",
    "SGILOResult",
    "ScoreMLP",
    "ScoreViT",
    "VPSDE",
    "csgm",
    "device_generator",
    "dsm_loss",
    "em_reverse_step",
    "fourier_time_features",
    "hv_field",
    "ilo",
    "invert_codes",
    "langevin",
    "project_l1_ball",
    "random_relu_generator",
    "sgilo",
    "stationary_covariance",
    "train_score",
    "train_vae",
]
