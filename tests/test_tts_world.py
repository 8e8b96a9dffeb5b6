"""WORLD vocoder features: analysis/synthesis on real speech, the feature spec in voice files, and a
tiny WORLD voice trained end to end."""
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("pyworld", reason="pyworld (the pyworld-prebuilt wheel) is a dependency")

from tts_temp.tts import frames, world  # noqa: E402
from tts_temp.tts.mel import MelConfig, log_mel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CFG = world.WorldConfig()


def _clip(name="librivox_sense_0880"):
    import librosa

    wav, sr = sf.read(str(DATA / f"{name}.wav"), dtype="float32")
    return librosa.resample(wav, orig_sr=sr, target_sr=CFG.sample_rate, res_type="soxr_hq")


@pytest.fixture(scope="module")
def clip_and_frames():
    wav = _clip()
    return wav, world.analyse(wav, CFG)


def test_analysis_layout_of_a_real_clip(clip_and_frames):
    wav, f = clip_and_frames
    assert f.dtype == torch.float32 and f.shape == (84, 1 + len(wav) // 256) == (CFG.dim, f.shape[1])
    vuv = f[CFG.vuv]
    assert set(vuv.unique().tolist()) == {0.0, 1.0} and 0.3 < float(vuv.mean()) < 0.9
    lf0 = f[CFG.lf0]
    # Harvest may land a hair under its floor (70.9 Hz here)
    assert torch.isfinite(lf0).all() and math.log(70) <= float(lf0.min()) and float(lf0.max()) <= math.log(800)
    # continuous through unvoiced frames: no jumps larger than a voiced frame-to-frame change allows
    assert float(lf0.diff().abs().max()) < 0.5
    assert float(f[CFG.vuv + 1:].max()) <= 0.0  # coded aperiodicity is in dB, at most 0


def test_continuous_log_f0_interpolates_and_holds():
    f0 = np.array([0, 0, 100, 0, 0, 400, 0], dtype=float)
    got = world.continuous_log_f0(f0)
    want = [math.log(100)] * 3 + [math.log(100) + k / 3 * math.log(4) for k in (1, 2)] + [math.log(400)] * 2
    assert np.allclose(got, want)
    assert np.allclose(world.continuous_log_f0(np.zeros(4)), world.UNVOICED_LOG_F0)


def test_round_trip_of_a_real_clip_stays_close(clip_and_frames):
    from tts_temp.naturalness import dnsmos

    wav, f = clip_and_frames
    out = world.synthesise(f, CFG)
    assert out.dtype == np.float32 and len(out) == f.shape[1] * 256
    out = out[: len(wav)]
    mel = MelConfig()
    a, b = log_mel(wav, mel), log_mel(out, mel)
    loud = a.max(dim=0).values > a.max() - 6  # frames within ~26 dB of the loudest
    dist_db = float((20 / math.log(10)) * (a[:, loud] - b[:, loud]).abs().mean() / 2)
    assert dist_db < 4.0, dist_db
    src, rt = dnsmos(wav, CFG.sample_rate), dnsmos(out, CFG.sample_rate)
    assert rt.ovrl > src.ovrl - 0.3 and rt.ovrl > 2.5, (src, rt)


def test_silence_frame_is_silent_and_pads():
    sil = frames.silence(frames.world_spec())
    out = world.synthesise(sil[:, None].repeat(1, 40), CFG)
    assert float(np.abs(out).max()) < 1e-3
    mel_sil = frames.silence(frames.mel_spec())
    assert mel_sil.shape == (80,) and float(mel_sil[0]) == pytest.approx(math.log(1e-5))


def test_world_statistics_are_per_stream():
    x = torch.randn(84, 500)
    x[CFG.lf0] = x[CFG.lf0] * 0.2 + 5.0
    mean, std = frames.statistics(x, frames.world_spec())
    assert len(mean) == 84 and len(set(mean[:80])) == 1 and abs(mean[CFG.lf0] - 5.0) < 0.05
    assert abs(std[CFG.lf0] - 0.2) < 0.05
    m, s = frames.statistics(x[:80], frames.mel_spec())
    assert isinstance(m, float) and isinstance(s, float)


def test_old_voice_files_load_as_mel_with_griffin_lim(tmp_path):
    from tts_temp.tts.vocoder import GriffinLim
    from tts_temp.tts.voice import load_voice, shipped_voice_path

    d = torch.load(shipped_voice_path("slt-small"), weights_only=True)  # the mel voice, as files were then
    d.pop("features", None)
    d.pop("vocoder", None)
    torch.save(d, tmp_path / "old.pt")
    voice = load_voice(tmp_path / "old.pt")
    assert voice.features["kind"] == "mel" and voice.vocoder == {"kind": "griffin-lim"}
    assert isinstance(voice.make_vocoder(), GriffinLim) and isinstance(voice.mean, float)
    d["vocoder"] = {"kind": "world"}  # a vocoder that cannot render the voice's features
    torch.save(d, tmp_path / "bad.pt")
    from tts_temp.errors import UserError

    with pytest.raises(UserError, match="damaged voice"):
        load_voice(tmp_path / "bad.pt")


def test_tiny_world_voice_trains_and_speaks(tiny_corpus, tmp_path):
    from tts_temp.tts import features
    from tts_temp.tts.synthesize import SynthesisOptions, synthesize_batch
    from tts_temp.tts.train import Trainer, load_config
    from tts_temp.tts.voice import load_voice

    spec = frames.world_spec(world.WorldConfig(f0_method="dio"))  # dio: the test's analysis in ~1 s
    path = features.build(tiny_corpus[0], spec=spec)
    assert path.name == "features_phonemes_world.pt"
    feats = features.load(path)
    assert feats.spec["kind"] == "world" and feats.frames[0].shape[0] == 84
    assert torch.is_tensor(feats.mean) and feats.mean.shape == (84, 1)
    model_cfg, cfg = load_config(ROOT / "configs" / "voice-world-tiny.toml")
    cfg.features, cfg.out_dir = str(path), str(tmp_path / "run")
    trainer = Trainer(model_cfg, cfg, log=lambda m: None)
    assert trainer.model.cfg.frame_dim == 84
    trainer.run()
    assert trainer.state.step == cfg.total_steps and trainer.model.flow_active
    assert all(math.isfinite(h[2]) for h in trainer.state.history)
    saved = trainer.voice().save(tmp_path / "world.pt")
    voice = load_voice(saved)
    assert voice.features["kind"] == "world" and voice.vocoder == {"kind": "world"}
    assert isinstance(voice.make_vocoder(), world.WorldVocoder)
    out = synthesize_batch(voice, "Glue the sheet.", [0.0, 0.667], [1, 1], SynthesisOptions(max_seconds=4.0))
    for wav, fr in zip(out.waveforms, out.frames):
        assert out.sample_rate == 22050 and wav.dtype == np.float32 and np.isfinite(wav).all()
        assert len(wav) == fr.shape[1] * 256 > 0 and fr.shape[0] == 84
    out_wav = tmp_path / "a.wav"
    sf.write(out_wav, out.waveforms[1], out.sample_rate)
    assert sf.info(str(out_wav)).frames == len(out.waveforms[1])


def test_warm_start_from_a_voice_on_other_frames_moves_what_the_frame_does_not_shape():
    from tts_temp.tts.model import ModelConfig, OverFlow
    from tts_temp.tts.train import transfer_weights

    small = dict(n_symbols=12, encoder_dim=16, encoder_convs=1, prenet_dim=8, lstm_dim=16, flow_blocks=1,
                 flow_hidden=8, flow_layers=1)
    torch.manual_seed(0)
    src = OverFlow(ModelConfig(frame_dim=6, **small))
    for p in src.parameters():  # every tensor differs from a fresh model's
        p.data.normal_()
    src.flow_active = True
    dst = OverFlow(ModelConfig(frame_dim=10, **small))
    fresh = {k: v.clone() for k, v in dst.state_dict().items()}
    moved = transfer_weights(dst, src.state_dict(), 6)
    s, d = src.state_dict(), dst.state_dict()
    assert torch.equal(d["encoder.embedding.weight"], s["encoder.embedding.weight"])
    assert torch.equal(d["hmm.lstm.weight_hh_l0"], s["hmm.lstm.weight_hh_l0"])
    assert torch.equal(d["hmm.prenet.0.weight"][:, :6], s["hmm.prenet.0.weight"])
    assert torch.equal(d["hmm.prenet.0.weight"][:, 6:], fresh["hmm.prenet.0.weight"][:, 6:])
    for head in ("hmm.state_head.weight", "hmm.frame_head.bias"):
        assert torch.equal(d[head][:6], s[head][:6])            # means of the shared channels
        assert torch.equal(d[head][10:16], s[head][6:12])       # their std parameters
        assert torch.equal(d[head][-1], s[head][-1])            # the transition logit
        assert torch.equal(d[head][6:10], fresh[head][6:10])    # the new channels: fresh
    assert all(torch.equal(d[k], fresh[k]) for k in d if k.startswith("flow."))
    assert not dst.flow_active and moved == sum(1 for k in s if not k.startswith("flow") and k in d)
    # Behaviour: the state emissions of the shared channels are the source's for the same text.
    ids, lengths = torch.tensor([[1, 2, 3, 4]]), torch.tensor([4])
    src.eval(), dst.eval()
    with torch.no_grad():
        a_src, sig_src, c_src = src.hmm.neutral_emissions(src.encoder(ids, lengths)[0])
        a_dst, sig_dst, c_dst = dst.hmm.neutral_emissions(dst.encoder(ids, lengths)[0])
    assert torch.allclose(a_dst[..., :6], a_src) and torch.allclose(sig_dst[..., :6], sig_src)
    assert torch.allclose(c_dst, c_src)


def test_model_f0_is_the_f0_the_frames_hand_to_world(clip_and_frames):
    wav, f = clip_and_frames
    pw = world._pyworld()
    x = np.ascontiguousarray(wav, dtype=np.float64)
    f0, _ = pw.harvest(x, CFG.sample_rate, f0_floor=CFG.f0_floor, f0_ceil=CFG.f0_ceil,
                       frame_period=CFG.frame_period_ms)
    hz, hop = frames.model_f0(f, frames.world_spec(CFG))
    assert hop == 256 / 22050 and hz.shape == f0.shape
    voiced = f0 > 0
    assert np.array_equal(np.isnan(hz), ~voiced)
    assert np.allclose(hz[voiced], f0[voiced], rtol=1e-5)
    assert frames.model_f0(torch.zeros(80, 5), frames.mel_spec()) is None  # mels carry no pitch


def test_f0_figure_draws_the_model_stream_with_pyin_as_a_check(tmp_path):
    from figures import capture_figures
    from tts_temp.compare import plots

    model = [120.0, None, 130.5, 140.0]
    pyin = [118.0, None, None, 141.0]
    chosen = {(0.0, 0): {"model_f0_hz": model, "model_f0_hop": 0.01, "f0_hz": pyin, "f0_hop": 0.02},
              (0.5, 0): {"f0_hz": pyin, "f0_hop": 0.02}}
    with capture_figures() as seen:
        fig = plots.f0_contours(tmp_path, chosen, [0.0, 0.5], 1, "A test.")
    (x_model, y_model, label), (x_pyin, y_pyin, pyin_label) = seen["f0_contours.png"][0]["lines"]
    assert label == "seed 0" and pyin_label == "pYIN"
    assert x_model == pytest.approx([0.0, 0.01, 0.02, 0.03]) and x_pyin == pytest.approx([0.0, 0.02, 0.04, 0.06])
    assert np.allclose(y_model, [120.0, np.nan, 130.5, 140.0], equal_nan=True)
    assert np.allclose(y_pyin, [118.0, np.nan, np.nan, 141.0], equal_nan=True)
    assert "model" in seen["f0_contours.png"][0]["ylabel"] and "own F0 stream" in fig.caption


def test_compare_records_carry_the_model_f0_of_world_voices_only(clip_and_frames):
    from tts_temp.compare.tts_sweep import model_f0_record

    _, f = clip_and_frames
    rec = model_f0_record(f, frames.world_spec(CFG))
    hz, _ = frames.model_f0(f, frames.world_spec(CFG))
    assert rec["model_f0_hop"] == 256 / 22050 and len(rec["model_f0_hz"]) == f.shape[1]
    assert [v is None for v in rec["model_f0_hz"]] == np.isnan(hz).tolist()
    assert np.allclose([v for v in rec["model_f0_hz"] if v is not None], hz[~np.isnan(hz)], atol=0.01)
    assert model_f0_record(torch.zeros(80, 4), frames.mel_spec()) == {}


def test_batch_vocoding_on_threads_is_item_by_item_vocoding(clip_and_frames):
    """WORLD's synthesis releases the GIL and keeps its noise state per call: the items of a batch
    rendered side by side are, bit for bit, what rendering them one at a time gives."""
    _, f = clip_and_frames
    batch = torch.stack([f, f.flip(1), f * 0.98, f.roll(7, dims=1)])
    vocoder = world.WorldVocoder(CFG)
    one_by_one = [vocoder(item) for item in batch]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        together = vocoder(batch)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one_by_one, together))
