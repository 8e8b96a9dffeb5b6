"""The voice shipped in the package: loads safely, carries its provenance, speaks plausibly."""
import numpy as np
import torch

from tts_temp.tts import load_voice, shipped_voice_path, synthesize


def test_shipped_voice_is_small_and_loads_without_code():
    path = shipped_voice_path()
    assert path.is_file() and path.stat().st_size <= 25 * 2**20
    raw = torch.load(path, weights_only=True)
    meta = raw["meta"]
    assert meta["step"] > 0 and meta["train_seconds"] > 0 and len(meta["corpus_sha256"]) == 64
    assert 0 < raw["duration_threshold"] < 1


def test_shipped_voice_speaks_a_sentence_of_plausible_length():
    voice = load_voice()
    wav, sr = synthesize(voice, "The birch canoe slid on the smooth planks.", temperature=0.667, seed=3)
    seconds = len(wav) / sr
    # festival's slt reads it in 2.4 s; people take 2-3 s.
    assert 1.5 < seconds < 4.0, seconds
    assert np.isfinite(wav).all() and 0.01 < np.abs(wav).max() <= 1.5
    # Not silence, not noise: speech has a strongly varying short-time energy.
    frames = wav[: len(wav) // 512 * 512].reshape(-1, 512)
    energy = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-10)
    assert energy.max() - np.percentile(energy, 10) > 20


def test_default_voice_is_the_neural_vocoder_voice_and_the_others_load_by_name(tmp_path, monkeypatch):
    from tts_temp.tts.voice import shipped_voice_names

    assert shipped_voice_names() == ["slt-small", "slt-world", "slt-world-nsf"]
    default = load_voice()   # the WORLD-frame model rendered by the neural vocoder trained here (issue 22)
    assert default.features["kind"] == "world" and default.vocoder["kind"] == "neural-sf"
    assert default.model.cfg.frame_dim == 84
    world = load_voice("slt-world")   # the same acoustic model through WORLD
    assert world.features == default.features and world.vocoder == {"kind": "world"}
    mel = load_voice("slt-small")
    assert mel.features["kind"] == "mel" and mel.vocoder == {"kind": "griffin-lim"}
    # a file of that name in the working folder is the user's, and wins
    monkeypatch.chdir(tmp_path)
    torch.save(torch.load(shipped_voice_path(), weights_only=True), tmp_path / "slt-small")
    assert load_voice("slt-small").features["kind"] == "world"


def test_voice_files_from_before_and_after_the_frame_renames_give_the_same_frames(tmp_path):
    """Shipped files call the frame size `n_mels`; a voice saved now calls it `frame_dim`. Both load to
    the same model, bit for bit the same frames for the same seed."""
    from tts_temp.tts import acoustic

    path = shipped_voice_path("slt-small")  # the flow is on in this voice: every layer takes part
    assert "n_mels" in torch.load(path, weights_only=True)["model_config"]
    old = load_voice(path)
    saved = old.save(tmp_path / "again.pt")
    stored = torch.load(saved, weights_only=True)["model_config"]
    assert stored["frame_dim"] == 80 and "n_mels" not in stored
    new = load_voice(saved)
    for t, seed in ((0.0, 1), (0.667, 5)):
        assert torch.equal(acoustic(old, "Glue the sheet.", t, seed), acoustic(new, "Glue the sheet.", t, seed))
