"""The split VAE: shapes, training lowers the ELBO loss, code inversion lowers the error."""

import pytest
import torch

from icml22dl.inverse import MLPVAE, invert_codes, train_vae


def test_split_decoder_composes_and_training_reduces_the_loss():
    torch.manual_seed(0)
    data = torch.tanh(torch.randn(256, 16, generator=torch.Generator().manual_seed(1)))
    vae = MLPVAE(16, latent=2, code=8, g1_hidden=16, g2_hidden=32, enc_hidden=32)
    z = torch.randn(5, 2)
    assert torch.equal(vae(z), vae.G2(vae.G1(z)))
    losses = train_vae(vae, data, 300, 64, 3e-3, torch.Generator().manual_seed(2))
    assert sum(losses[-20:]) / 20 < 0.8 * sum(losses[:20]) / 20


def test_code_inversion_recovers_images_in_the_range_of_g2():
    torch.manual_seed(0)
    vae = MLPVAE(16, latent=2, code=4, g1_hidden=16, g2_hidden=32, enc_hidden=32)
    with torch.no_grad():
        data = vae.G2(torch.randn(64, 4, generator=torch.Generator().manual_seed(3)))
    h0 = torch.zeros(64, 4)
    before = (vae.G2(h0) - data).pow(2).mean().item()
    h = invert_codes(vae.G2, data, h0, steps=300, lr=0.05)
    assert (vae.G2(h) - data).pow(2).mean().item() < 0.01 * before


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="code=0"):
        MLPVAE(16, code=0)
