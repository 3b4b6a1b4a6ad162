"""margin_patches and random_unit_vector: the data distribution of Jelassi & Li (ICML 2022), Sec. 3."""

from __future__ import annotations

import math

import pytest
import torch

from icml22dl.data.synthetic import MarginPatches, margin_patches, random_unit_vector

torch.set_num_threads(1)

N, D, P, MU, ALPHA, SIGMA = 4000, 12, 5, 0.2, 0.2, 0.3


def _data(seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[MarginPatches, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w_star = random_unit_vector(D, g, dtype=dtype)
    return margin_patches(N, D, P, MU, ALPHA, SIGMA, w_star, g), w_star


def test_random_unit_vector() -> None:
    g = torch.Generator().manual_seed(0)
    w = random_unit_vector(30, g)
    assert w.shape == (30,) and w.dtype == torch.float32
    assert abs(w.norm().item() - 1) < 1e-6
    assert random_unit_vector(30, g, dtype=torch.float64).dtype == torch.float64
    again = random_unit_vector(30, torch.Generator().manual_seed(0))
    assert torch.equal(w, again)
    # Uniform direction: the mean of many draws is near 0 (each coordinate has variance 1/d per draw).
    many = torch.stack([random_unit_vector(5, g) for _ in range(2000)])
    assert many.mean(0).abs().max() < 4 * math.sqrt(1 / 5 / 2000)
    with pytest.raises(ValueError, match="^d=0 "):
        random_unit_vector(0, g)


def test_shapes_dtypes_and_labels() -> None:
    data, _ = _data()
    assert data.x.shape == (N, P, D) and data.x.dtype == torch.float32
    assert data.y.shape == (N,) and data.y.dtype == torch.float32
    assert set(data.y.unique().tolist()) == {-1.0, 1.0}
    assert data.small_margin.dtype == torch.bool and data.signal_position.dtype == torch.long
    assert data.signal_position.min() >= 0 and data.signal_position.max() < P
    assert abs(data.y.mean().item()) <= 4 / math.sqrt(N)  # balanced labels, 4 std
    counts = torch.bincount(data.signal_position, minlength=P).double()
    assert ((counts - N / P).abs() <= 4 * math.sqrt(N * (1 / P) * (1 - 1 / P))).all()
    assert _data(dtype=torch.float64)[0].x.dtype == torch.float64


def test_signal_patch_is_exactly_the_scaled_feature() -> None:
    data, w_star = _data()
    rows = torch.arange(N)
    signal = data.x[rows, data.signal_position]
    scale = torch.where(data.small_margin, torch.full((N,), ALPHA), torch.ones(N))
    expected = (scale * data.y).unsqueeze(-1) * w_star
    assert torch.equal(signal, expected)
    large = ~data.small_margin
    assert torch.equal(signal[large], data.y[large].unsqueeze(-1) * w_star)


def test_noise_is_orthogonal_to_feature() -> None:
    data, w_star = _data()
    noise = data.noise_patches()
    assert noise.shape == (N, P - 1, D)
    assert (noise @ w_star).abs().max() <= 1e-5
    assert noise.norm(dim=-1).min() > 0  # real noise, not zeros


def test_small_margin_fraction_within_four_binomial_std() -> None:
    data, _ = _data()
    fraction = data.small_margin.double().mean().item()
    assert abs(fraction - MU) <= 4 * math.sqrt(MU * (1 - MU) / N)


def test_noise_covariance_is_projected_isotropic() -> None:
    """Empirical covariance of all noise patches vs sigma^2 (I - w* w*^T); the entries' sampling std is
    at most sigma^2 sqrt(2 / n) for n Gaussian vectors, so 5 of those bounds every entry."""
    data, w_star = _data(dtype=torch.float64)
    xi = data.noise_patches().reshape(-1, D)
    n = xi.shape[0]
    cov = xi.T @ xi / n  # mean zero by construction
    target = SIGMA**2 * (torch.eye(D, dtype=torch.float64) - torch.outer(w_star, w_star))
    assert (cov - target).abs().max() <= 5 * SIGMA**2 * math.sqrt(2 / n)
    assert (w_star @ cov @ w_star).item() <= 1e-12  # isotropic noise would put sigma^2 here
    assert abs(torch.trace(cov).item() / (SIGMA**2 * (D - 1)) - 1) <= 5 * math.sqrt(2 / (n * (D - 1)))


def test_seeded_and_reproducible() -> None:
    a, _ = _data(seed=3)
    b, _ = _data(seed=3)
    c, _ = _data(seed=4)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert not torch.equal(a.x, c.x)


def test_noise_patches_skip_the_signal_in_order() -> None:
    data, _ = _data()
    i = 7
    p = int(data.signal_position[i])
    expected = torch.cat([data.x[i, :p], data.x[i, p + 1 :]])
    assert torch.equal(data.noise_patches()[i], expected)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("n", {"n": 0}),
        ("d", {"d": 0}),
        ("patches", {"patches": 0}),
        ("mu", {"mu": 1.5}),
        ("alpha", {"alpha": 0.0}),
        ("sigma", {"sigma": -0.1}),
        ("w_star", {"w_star": torch.ones(D)}),
        ("w_star", {"w_star": torch.ones(D + 1) / math.sqrt(D + 1)}),
    ],
)
def test_invalid_arguments_raise(field: str, kwargs: dict[str, object]) -> None:
    g = torch.Generator().manual_seed(0)
    args: dict[str, object] = {
        "n": 10, "d": D, "patches": P, "mu": MU, "alpha": ALPHA, "sigma": SIGMA,
        "w_star": random_unit_vector(D, g), "generator": g,
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{field}[= ]"):
        margin_patches(**args)  # type: ignore[arg-type]
