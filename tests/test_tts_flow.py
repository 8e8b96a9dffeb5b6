"""Every flow layer and the whole decoder: exact inverse and log-determinant vs autograd."""
import pytest
import torch

from tts_temp.tts.flow import ActNorm, AffineCoupling, FlowDecoder, InvConv1x1, squeeze, unsqueeze


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return module


def _layers():
    return {
        "actnorm": ActNorm(6),
        "invconv": InvConv1x1(6, identity=False, generator=torch.Generator().manual_seed(3)),
        "coupling": AffineCoupling(6, hidden=8, n_layers=2, kernel=3),
        "coupling_flip": AffineCoupling(6, hidden=8, n_layers=2, kernel=3, flip=True),
        "decoder": FlowDecoder(channels=3, n_blocks=2, hidden=8, n_layers=2, kernel=3),
        # Coqui's options on the same layers: grouped 1x1 convolutions, dilation, sigmoid scale, no swap
        "invconv_grouped": InvConv1x1(6, num_splits=2, identity=False, generator=torch.Generator().manual_seed(4)),
        "coupling_coqui": AffineCoupling(6, hidden=8, n_layers=3, kernel=3, dilation_rate=2, sigmoid_scale=True),
        "decoder_coqui": FlowDecoder(channels=3, n_blocks=2, hidden=8, n_layers=2, kernel=3, num_splits=2,
                                     dilation_rate=2, sigmoid_scale=True, alternate=False, identity=False),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_layer_inverts(name):
    layer = _randomise(_layers()[name]).double()
    x = torch.randn(2, 3 if name.startswith("decoder") else 6, 8, dtype=torch.float64)
    mask = torch.ones(2, 1, 8, dtype=torch.float64)
    mask[1, :, 6:] = 0
    x = x * mask
    y, logdet = layer(x, mask)
    back, inv_logdet = layer(y, mask, reverse=True)
    assert torch.allclose(back, x, atol=1e-4)
    assert torch.allclose(logdet, -inv_logdet, atol=1e-6)


@pytest.mark.parametrize("name", list(_layers()))
def test_logdet_matches_autograd_jacobian(name):
    layer = _randomise(_layers()[name], seed=1).double()
    c = 3 if name.startswith("decoder") else 6
    t = 4
    mask = torch.ones(1, 1, t, dtype=torch.float64)
    x = torch.randn(1, c, t, dtype=torch.float64)
    _, logdet = layer(x, mask)
    jac = torch.autograd.functional.jacobian(lambda v: layer(v.reshape(1, c, t), mask)[0].reshape(-1), x.reshape(-1))
    want = torch.linalg.slogdet(jac)[1]
    assert torch.allclose(logdet[0], want, atol=1e-6), (logdet, want)


def test_identity_decoder_is_exact_identity():
    dec = FlowDecoder(channels=4, n_blocks=3, hidden=8, n_layers=2, identity=True)
    x = torch.randn(2, 4, 10)
    mask = torch.ones(2, 1, 10)
    y, logdet = dec(x, mask)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(2))


def test_squeeze_roundtrip():
    x = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8)
    mask = torch.ones(2, 1, 8)
    y, m = squeeze(x, mask, 2)
    assert y.shape == (2, 6, 4) and m.shape == (2, 1, 4)
    back, _ = unsqueeze(y, m, 2)
    assert torch.equal(back, x)
