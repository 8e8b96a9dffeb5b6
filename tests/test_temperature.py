"""The shared temperature math: limits, filtering and seeded sampling."""
import math

import pytest
import torch

from tts_temp.sampling import temperature as tm


def test_softmax_limits():
    logits = torch.tensor([[1.0, 3.0, 2.0]])
    assert torch.equal(tm.tempered_softmax(logits, 0.0), torch.tensor([[0.0, 1.0, 0.0]]))
    assert torch.allclose(tm.tempered_softmax(logits, 1.0), torch.softmax(logits, -1))
    hot = tm.tempered_softmax(logits, 100.0)
    assert torch.allclose(hot, torch.full_like(hot, 1 / 3), atol=0.01)


def test_entropy_rises_with_temperature():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 3
    values = [tm.entropy(logits, t).mean().item() for t in (0.0, 0.5, 1.0, 2.0)]
    assert values[0] == 0.0
    assert values == sorted(values)
    assert values[-1] < math.log(50) + 1e-5


def test_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(tm.filter_top_k(logits, 2)[0, 2:]).all()
    assert torch.isfinite(tm.filter_top_k(logits, 2)[0, :2]).all()
    kept = torch.isfinite(tm.filter_top_p(logits, 0.8))[0].tolist()
    assert kept == [True, True, False, False]
    kept = torch.isfinite(tm.filter_top_p(logits, 0.81))[0].tolist()
    assert kept == [True, True, True, False]
    kept = torch.isfinite(tm.filter_top_p(logits, 0.01))[0].tolist()
    assert kept == [True, False, False, False]  # the top token always survives


def test_sampling_is_seeded_and_respects_filters():
    logits = torch.randn(8, 100, generator=torch.Generator().manual_seed(1))
    a = tm.sample_logits(logits, 1.0, torch.Generator().manual_seed(7))
    b = tm.sample_logits(logits, 1.0, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    draws = torch.stack([tm.sample_logits(logits, 1.0, torch.Generator().manual_seed(s)) for s in range(20)])
    assert (draws != draws[0]).any()
    top1 = tm.sample_logits(logits, 5.0, torch.Generator().manual_seed(3), top_k=1)
    assert torch.equal(top1, logits.argmax(-1))
    assert torch.equal(tm.sample_logits(logits, 0.0), logits.argmax(-1))


def test_greedy_pick_is_argmax_on_ties_and_nan():
    """T = 0 takes max(dim)'s indices (faster): the same as argmax, first of tied maxima, NaN first."""
    gen = torch.Generator().manual_seed(4)
    logits = torch.randint(-2, 2, (64, 51864), generator=gen).float()  # many tied maxima per row
    logits[::3, ::5] = -math.inf
    logits[5, 30000] = math.nan
    logits[7, 17] = logits[7, 40000] = 9.0
    picks = tm.sample_logits(logits, 0.0)
    assert torch.equal(picks, logits.argmax(-1))
    assert picks[5] == 30000 and picks[7] == 17


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_temperature(bad):
    with pytest.raises(ValueError):
        tm.check_temperature(bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, 1.5, float("nan")])
def test_bad_top_p(bad):
    with pytest.raises(ValueError):
        tm.check_top_p(bad)


@pytest.mark.parametrize("bad", [0, -3, 1.5])
def test_bad_top_k(bad):
    with pytest.raises(ValueError):
        tm.check_top_k(bad)


def test_sample_gaussian_is_mean_at_zero_and_scales_with_temperature():
    from tts_temp.sampling.temperature import sample_gaussian

    mean = torch.full((20000,), 2.0)
    std = torch.full((20000,), 0.5)
    assert torch.equal(sample_gaussian(mean, std, 0.0, torch.Generator().manual_seed(0)), mean)
    for t in (0.5, 1.0, 2.0):
        z = sample_gaussian(mean, std, t, torch.Generator().manual_seed(1))
        assert abs(float(z.std()) - 0.5 * t) < 0.02 * t
        assert abs(float(z.mean()) - 2.0) < 0.02 * t
    a = sample_gaussian(mean, std, 0.7, torch.Generator().manual_seed(3))
    b = sample_gaussian(mean, std, 0.7, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_sampling_follows_the_distribution():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2])
    logits = torch.log(probs).expand(20000, 4)
    draws = tm.sample_logits(logits, 1.0, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / draws.numel()
    assert freq[1] == 0  # a zero-probability token is never drawn
    assert torch.allclose(freq, probs, atol=0.015)
    hot = torch.bincount(tm.sample_logits(logits, 2.0, torch.Generator().manual_seed(1)), minlength=4).float()
    assert hot[0] / hot.sum() < 0.45  # a higher temperature flattens the draw


def test_gaussian_rows_are_each_rows_own_draw():
    """Batched rows give bit for bit what one sample_gaussian per row gives with the same seeds."""
    from tts_temp.sampling.temperature import sample_gaussian, sample_gaussian_rows

    g = torch.Generator().manual_seed(5)
    mean, std = torch.randn(4, 7, generator=g), torch.rand(4, 7, generator=g) + 0.1
    temps = torch.tensor([0.0, 0.334, 0.667, 1.0])
    rows = sample_gaussian_rows(mean, std, temps, [torch.Generator().manual_seed(s) for s in range(4)])
    for i in range(4):
        one = sample_gaussian(mean[i], std[i], temps[i], torch.Generator().manual_seed(i))
        assert torch.equal(rows[i], one)
    assert torch.equal(rows[0], mean[0])  # T = 0: the mean exactly
