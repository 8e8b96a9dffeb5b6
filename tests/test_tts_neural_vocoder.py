"""The neural source-filter vocoder (issue 22): shapes, determinism, batch row == item alone,
exact resumption of its training, the voice file that carries it, and F0 smoothing."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("pyworld", reason="pyworld (the pyworld-prebuilt wheel) is a dependency")

from tts_temp.tts import frames, neural_vocoder as nv, vocoder_train  # noqa: E402
from tts_temp.tts.world import WorldConfig, median_over_frames, silence  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = nv.NeuralVocoderConfig(channels=16, dilations=(1, 2))
HOP = SMALL.hop_length


def _frames(t: int, seed: int = 0, f0: float = 180.0) -> torch.Tensor:
    """Speech-like WORLD frames: an envelope falling with frequency, voiced in the middle."""
    g = torch.Generator().manual_seed(seed)
    f = torch.zeros(SMALL.dim, t)
    f[: SMALL.n_mels] = -4.0 - 0.1 * torch.arange(SMALL.n_mels)[:, None] + 0.3 * torch.randn(SMALL.n_mels, t, generator=g)
    f[SMALL.lf0] = math.log(f0) + 0.05 * torch.randn(t, generator=g)
    f[SMALL.vuv] = 0.0
    f[SMALL.vuv, t // 4: 3 * t // 4] = 1.0
    f[SMALL.vuv + 1:] = -10.0
    return f


def _model(seed: int = 0) -> nv.NeuralSourceFilter:
    torch.manual_seed(seed)  # weight init only; the vocoder itself draws nothing from the global generator
    m = nv.NeuralSourceFilter(SMALL)
    with torch.no_grad():
        for p in m.post.parameters():  # zero-initialised: perturb, or the network is not tested
            p.normal_(0, 0.05)
    return m.eval()


def test_shapes_single_and_batch():
    voc = nv.NeuralVocoder(_model())
    one = voc(_frames(40))
    assert one.shape == (40 * HOP,) and one.dtype == torch.float32 and torch.isfinite(one).all()
    many = voc(torch.stack([_frames(40, 1), _frames(40, 2)]))
    assert many.shape == (2, 40 * HOP)
    assert float(one.abs().max()) > 0


def test_deterministic_and_noise_only_from_a_generator():
    voc = nv.NeuralVocoder(_model())
    f = _frames(50)
    torch.manual_seed(123)
    a = voc(f)
    torch.manual_seed(456)  # the global generator plays no part
    b = voc(f)
    assert torch.equal(a, b)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    c, d = voc(f, generator=g1), voc(f, generator=g2)
    assert torch.equal(c, d) and not torch.equal(a, c)


def test_batch_row_equals_item_alone():
    voc = nv.NeuralVocoder(_model())
    short, long_ = _frames(30, 3), _frames(56, 4)
    batch = torch.stack([torch.cat([short, silence(WorldConfig())[:, None].expand(-1, 26)], dim=1), long_])
    out = voc(batch, torch.tensor([30, 56]))
    assert torch.equal(out[0, : 30 * HOP], voc(short))
    assert torch.equal(out[0, 30 * HOP:], torch.zeros(26 * HOP))
    assert torch.equal(out[1], voc(long_))


def test_synthesize_batch_rows_equal_items_alone_with_the_neural_vocoder():
    from tts_temp.tts import load_voice, synthesize_batch

    voice = load_voice("slt-world")
    voice.vocoder = {"kind": "neural-sf", **nv.to_dict(_model())}
    voc = voice.make_vocoder()
    assert isinstance(voc, nv.NeuralVocoder)
    text = "The birch canoe slid on the smooth planks."
    batch = synthesize_batch(voice, text, [0.667, 0.0, 0.667], [1, 2, 3], vocoder=voc)
    assert len({len(w) for w in batch.waveforms}) > 1  # items of different lengths share the batch
    for i in range(3):
        # each row is the vocoder run on that item's own frames alone, padding and neighbours unseen
        alone = voc(batch.frames[i]).numpy()
        assert np.array_equal(batch.waveforms[i], alone)


def test_median_removes_single_frame_f0_spikes():
    x = torch.full((1, 20), math.log(200.0))
    x[0, 7] = math.log(200.0 * 2 ** (3 / 12))  # a three-semitone one-frame jump
    assert torch.equal(median_over_frames(x, 5), torch.full((1, 20), math.log(200.0)))
    assert torch.equal(median_over_frames(x, 1), x)
    ramp = torch.linspace(5.0, 5.5, 20)[None]
    assert torch.allclose(median_over_frames(ramp, 5)[:, 2:-2], ramp[:, 2:-2])  # glides pass unchanged


def test_rendered_pitch_has_no_spike_from_one_noisy_frame():
    """Frame-independent noise on log-F0 must not come out as a pitch jump: the excitation's
    instantaneous frequency stays at the surrounding F0 through a one-frame spike."""
    m = _model()
    f = _frames(40)
    f[SMALL.vuv] = 1.0
    f[SMALL.lf0] = math.log(200.0)
    f[SMALL.lf0, 20] = math.log(200.0 * 2 ** (3 / 12))
    exc = m.excitation(m.smoothed(f[None]))[0].numpy()
    # the pulse train's period from its peaks: every period stays 200 Hz
    peaks = np.flatnonzero((exc[1:-1] > exc[:-2]) & (exc[1:-1] >= exc[2:]) & (exc[1:-1] > 0.5 * exc.max())) + 1
    periods = np.diff(peaks)
    assert np.all(np.abs(periods - SMALL.sample_rate / 200.0) <= 1.0)


def test_pitch_of_the_excitation_follows_f0():
    m = _model()
    f = _frames(40, f0=150.0)
    f[SMALL.vuv] = 1.0
    f[SMALL.lf0] = math.log(150.0)
    exc = m.excitation(f[None])[0].numpy()
    spec = np.abs(np.fft.rfft(exc * np.hanning(len(exc))))
    hz = np.fft.rfftfreq(len(exc), 1 / SMALL.sample_rate)
    strong = hz[(spec > 0.5 * spec.max()) & (hz > 20)]
    # every harmonic of 150 Hz at equal strength up to Nyquist, nothing between them
    assert np.all(np.abs(strong / 150.0 - np.round(strong / 150.0)) * 150.0 < 3.0)
    assert abs(strong.min() - 150.0) < 3.0 and strong.max() > 0.9 * SMALL.sample_rate / 2
    f[SMALL.vuv] = 0.0
    assert float(m.excitation(f[None]).abs().max()) == 0.0  # unvoiced: no pulses


def _tiny_corpus(n: int = 6) -> vocoder_train.Corpus:
    g = torch.Generator().manual_seed(0)
    fr = [_frames(70 + 5 * i, seed=i) for i in range(n)]
    wavs = [0.1 * torch.randn(f.shape[1] * HOP, generator=g) for f in fr]
    return vocoder_train.Corpus(fr, wavs, torch.zeros(SMALL.dim), torch.ones(SMALL.dim), frames.world_spec())


def _trainer(tmp_path: Path, corpus) -> vocoder_train.VocoderTrainer:
    cfg = vocoder_train.VocoderTrainConfig(out_dir=str(tmp_path), segment_frames=16, batch=2, total_steps=100,
                                           checkpoint_seconds=1e9, log_every=1000, threads=1)
    return vocoder_train.VocoderTrainer(SMALL, cfg, log=lambda m: None, corpus=corpus)


def test_training_resumes_exactly(tmp_path):
    corpus = _tiny_corpus()
    straight = _trainer(tmp_path / "a", corpus)
    straight.run(max_steps=4)
    first = _trainer(tmp_path / "b", corpus)
    first.run(max_steps=2)
    resumed = _trainer(tmp_path / "b", corpus)  # a new process would do exactly this
    assert resumed.state.step == 2
    resumed.run(max_steps=2)
    assert resumed.state.step == straight.state.step == 4
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(straight.gen.get_state(), resumed.gen.get_state())
    for sa, sb in zip(straight.opt.state_dict()["state"].values(), resumed.opt.state_dict()["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_non_finite_gradient_is_skipped_not_applied(tmp_path, monkeypatch):
    """A NaN loss in one batch (a 1,008-recording run hit one) must not turn every weight into NaN."""
    corpus = _tiny_corpus()
    real, calls = vocoder_train.stft_loss, []

    def nan_on_the_second(pred, target):
        calls.append(1)
        loss = real(pred, target)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setattr(vocoder_train, "stft_loss", nan_on_the_second)
    tr = _trainer(tmp_path, corpus)
    tr.run(max_steps=3)
    assert tr.state.step == 3 and tr.state.skipped == 1
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())
    resumed = _trainer(tmp_path, corpus)   # the checkpoint run() saved is a finite one
    assert resumed.state.skipped == 1 and all(torch.isfinite(p).all() for p in resumed.model.parameters())
    with torch.no_grad():
        next(resumed.model.parameters()).fill_(float("nan"))
    with pytest.raises(RuntimeError, match="non-finite weights"):
        resumed.save()
    assert _trainer(tmp_path, corpus).state.step == 3   # the good checkpoint is still there


@pytest.mark.parametrize("level", [-90.0, -95.0, -150.0])
def test_gradient_is_finite_where_the_harmonic_magnitude_underflows(level):
    """exp(harm) of about -87 and below is a float32 denormal or zero; the filter built by
    torch.polar(exp(harm), phase) had a NaN gradient there (the full-corpus run's skipped steps)."""
    m = _model().train()
    with torch.no_grad():
        m.level[0] = level
    x = torch.stack([_frames(40, seed=s) for s in range(4)])
    y = 0.1 * torch.randn(4, 40 * HOP, generator=torch.Generator().manual_seed(1))
    nv.stft_loss(m(x, torch.Generator().manual_seed(0)), y).backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_training_lowers_the_loss(tmp_path):
    corpus = _tiny_corpus()
    tr = _trainer(tmp_path, corpus)
    g = torch.Generator().manual_seed(99)
    x, y = vocoder_train.sample_batch(corpus, 4, 16, HOP, g)

    def loss():
        with torch.no_grad():
            return float(nv.stft_loss(tr.model(x, torch.Generator().manual_seed(0)), y))

    before = loss()
    tr.run(max_steps=30)
    assert loss() < before


def test_voice_file_carries_the_vocoder(tmp_path):
    from tts_temp.tts import load_voice

    ckpt_dir = tmp_path / "run"
    tr = _trainer(ckpt_dir, _tiny_corpus())
    tr.run(max_steps=1)
    out = vocoder_train.attach_to_voice(ROOT / "tts_temp/tts/voices/slt-world.pt",
                                        vocoder_train.export(ckpt_dir / "last.pt"), tmp_path / "v.pt", "test")
    d = torch.load(out, weights_only=True)  # plain tensors: opening a voice never runs code
    assert d["vocoder"]["kind"] == "neural-sf"
    voice = load_voice(out)
    voc = voice.make_vocoder()
    assert isinstance(voc, nv.NeuralVocoder)
    f = _frames(20)
    assert torch.equal(voc(f), nv.NeuralVocoder(tr.model.eval())(f))


def test_neural_vocoder_refuses_mel_features():
    with pytest.raises(ValueError):
        frames.make_vocoder({"kind": "neural-sf", **nv.to_dict(_model())}, frames.mel_spec())


def test_world_vocoder_can_smooth_the_pitch_it_renders():
    """The WORLD vocoder's f0_median (from the voice's vocoder dict) renders a one-frame F0 spike
    as the surrounding pitch; the default (1) leaves frames as they are."""
    cfg = WorldConfig()
    f = _frames(40)
    f[cfg.vuv] = 1.0
    f[cfg.lf0] = math.log(200.0)
    spiky = f.clone()
    spiky[cfg.lf0, 20] = math.log(200.0 * 2 ** (3 / 12))
    smooth = frames.make_vocoder({"kind": "world", "f0_median": 5}, frames.world_spec())
    plain = frames.make_vocoder({"kind": "world"}, frames.world_spec())
    assert torch.equal(smooth(spiky), plain(f))
    assert not torch.equal(plain(spiky), plain(f))
    batch = torch.stack([spiky, f])
    assert torch.equal(smooth(batch)[0], smooth(spiky))


def test_augmentation_touches_only_what_sampling_disturbs():
    x = torch.stack([_frames(30, i) for i in range(4)])
    g = torch.Generator().manual_seed(0)
    off = vocoder_train.VocoderTrainConfig(augment_share=0.0, augment_voiced_share=0.0)
    assert torch.equal(vocoder_train.augment(x.clone(), SMALL, off, g), x)
    on = vocoder_train.VocoderTrainConfig(augment_share=1.0, augment_voiced_share=1.0)
    y = vocoder_train.augment(x.clone(), SMALL, on, g)
    assert torch.equal(y[:, SMALL.lf0], x[:, SMALL.lf0])          # the pitch stays the recording's
    assert torch.equal(y[:, SMALL.vuv], torch.ones_like(y[:, SMALL.vuv]))  # every frame flagged voiced
    assert not torch.equal(y[:, : SMALL.n_mels], x[:, : SMALL.n_mels])


def test_shipped_nsf_voice_is_the_world_model_with_the_trained_vocoder():
    from tts_temp.tts import load_voice, synthesize
    from tts_temp.tts.voice import shipped_voice_path

    path = shipped_voice_path("slt-world-nsf")
    assert path.stat().st_size - shipped_voice_path("slt-world").stat().st_size <= 20 * 2**20
    voice, classic = load_voice("slt-world-nsf"), load_voice("slt-world")
    assert voice.vocoder["kind"] == "neural-sf" and isinstance(voice.make_vocoder(), nv.NeuralVocoder)
    a, b = voice.model.state_dict(), classic.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the same acoustic model
    wav, sr = synthesize(voice, "The birch canoe slid on the smooth planks.", seed=1)
    assert sr == 22050 and np.isfinite(wav).all() and 0.05 < np.abs(wav).max() <= 1.5
    again, _ = synthesize(voice, "The birch canoe slid on the smooth planks.", seed=1)
    assert np.array_equal(wav, again)


def test_f0_mean_ramps_a_pitch_step_after_the_median_and_leaves_the_rest():
    """f0_mean (rendering only) runs a mean over log-F0 after the median: a step between two pitch
    runs becomes a ramp over f0_mean frames; the voicing flag and the bands are untouched, and the
    default (1) is the median alone."""
    f = _frames(30)
    f[SMALL.lf0] = math.log(200.0)
    f[SMALL.lf0, 15:] = math.log(200.0 * 2 ** (2 / 12))
    base = _model()
    ramp = nv.NeuralSourceFilter(dataclasses.replace(SMALL, f0_mean=5))
    ramp.load_state_dict(base.state_dict())
    a, b = base.smoothed(f[None])[0], ramp.smoothed(f[None])[0]
    assert torch.equal(a[SMALL.lf0], f[SMALL.lf0])  # the median keeps a step
    assert torch.equal(b[: SMALL.lf0], a[: SMALL.lf0]) and torch.equal(b[SMALL.lf0 + 1:], a[SMALL.lf0 + 1:])
    lo, hi = math.log(200.0), math.log(200.0 * 2 ** (2 / 12))
    assert torch.allclose(b[SMALL.lf0, :13], torch.full((13,), lo)) and torch.allclose(b[SMALL.lf0, 18:], torch.full((12,), hi))
    steps = b[SMALL.lf0, 12:18].diff()
    assert (steps > 0).all() and float(steps.max()) < 0.5 * (hi - lo)   # a ramp, no step
    voc = nv.NeuralVocoder(ramp.eval())
    assert torch.equal(voc(torch.stack([f, _frames(30, 3)]))[0], voc(f))  # batch row == item alone


def test_export_overrides_rendering_settings_only(tmp_path):
    m = _model()
    ckpt = {"format": vocoder_train.CHECKPOINT_FORMAT, "vocoder": nv.to_dict(m)}
    torch.save(ckpt, tmp_path / "c.pt")
    d = vocoder_train.export(tmp_path / "c.pt", f0_mean=5)
    assert d["config"]["f0_mean"] == 5 and nv.from_dict(d).model.cfg.f0_mean == 5
    assert vocoder_train.export(tmp_path / "c.pt")["config"]["f0_mean"] == 1
    with pytest.raises(ValueError):
        vocoder_train.export(tmp_path / "c.pt", channels=8)


def test_voiced_noise_db_raises_the_noise_of_voiced_frames_alone():
    """voiced_noise_db (rendering only) adds its gain to the noise envelope of voiced frames and
    nothing else: the harmonic envelope and unvoiced frames' noise are as before, and a fully
    voiced item's noise branch renders scaled by exactly 10^(dB/20)."""
    f = _frames(24)
    base = _model()
    louder = nv.NeuralSourceFilter(dataclasses.replace(SMALL, voiced_noise_db=6.0))
    louder.load_state_dict(base.state_dict())
    louder.eval()
    sf = base.smoothed(f[None])
    (h0, n0), (h1, n1) = base.envelopes(sf), louder.envelopes(sf)
    voiced = sf[0, SMALL.vuv] > 0.5
    assert 0 < int(voiced.sum()) < 24
    assert torch.equal(h0, h1) and torch.equal(n1[..., ~voiced], n0[..., ~voiced])
    assert torch.allclose(n1[..., voiced] - n0[..., voiced], torch.full_like(n0[..., voiced], 6.0 * math.log(10) / 20), atol=1e-5)
    f[SMALL.vuv] = 1.0
    g = torch.Generator().manual_seed(5)
    fs = base.smoothed(f[None])
    ha, na = base.envelopes(fs)
    hb, nb = louder.envelopes(fs)
    with torch.no_grad():
        a = base.render(fs, torch.full_like(ha, -30.0), na, torch.Generator().manual_seed(5))
        b = louder.render(fs, torch.full_like(hb, -30.0), nb, g)
    assert float(a.abs().max()) > 0
    assert torch.allclose(b, a * 10 ** (6.0 / 20), rtol=1e-4, atol=1e-6)
    voc = nv.NeuralVocoder(louder)
    assert torch.equal(voc(torch.stack([_frames(24), _frames(24, 3)]))[0], voc(_frames(24)))  # batch row == item alone


def test_export_sets_the_voiced_noise_gain(tmp_path):
    ckpt = {"format": vocoder_train.CHECKPOINT_FORMAT, "vocoder": nv.to_dict(_model())}
    torch.save(ckpt, tmp_path / "c.pt")
    d = vocoder_train.export(tmp_path / "c.pt", voiced_noise_db=6.0)
    assert d["config"]["voiced_noise_db"] == 6.0 and nv.from_dict(d).model.cfg.voiced_noise_db == 6.0
    assert vocoder_train.export(tmp_path / "c.pt")["config"]["voiced_noise_db"] == 0.0
