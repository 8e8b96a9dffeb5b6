"""End to end on a tiny generated corpus: festival -> features -> training -> voice -> speech."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tts_temp.tts import corpus, features
from tts_temp.tts.synthesize import SynthesisOptions, synthesize, synthesize_batch
from tts_temp.tts.train import Trainer, load_config, make_batches
from tts_temp.tts.voice import load_voice

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_run(tiny_corpus, tmp_path_factory):
    out, _ = tiny_corpus
    feats = features.build(out)
    model_cfg, cfg = load_config(ROOT / "configs" / "voice-tiny.toml")
    cfg.features = str(feats)
    cfg.out_dir = str(tmp_path_factory.mktemp("run"))
    return model_cfg, cfg


def test_corpus_is_deterministic(tiny_corpus, tmp_path):
    out, manifest = tiny_corpus
    rows = corpus.read_manifest(manifest)
    assert len(rows) == 8 and all(float(r["seconds"]) > 1.0 for r in rows)
    again = corpus.build(tmp_path, corpus.harvard()[:2])
    first = {r["id"]: r["sha256"] for r in rows}
    assert all(first[r["id"]] == r["sha256"] for r in corpus.read_manifest(again))


def test_held_out_sentences_never_in_training(tmp_path):
    """Harvard 701-720 are marked held out, and what training reads (the features file) never holds them.

    A small corpus with two training and two held-out sentences goes through the real path
    (corpus.build -> manifest.tsv -> features.build): the held-out ones are in the manifest, marked
    "test", and absent from the features by id and by text. The full sentence list (Harvard and the
    KJV verses) never puts a held-out sentence's text on the training side either.
    """
    utts = corpus.harvard()
    held_out = [u for u in utts if u.split == "test"]
    assert [u.id for u in held_out] == [f"harvard_{i:03d}" for i in range(701, 721)]
    held_texts = {u.text for u in held_out}
    assert len(held_texts) == 20 and not held_texts & {u.text for u in utts if u.split == "train"}

    if shutil.which("festival") is None or shutil.which("espeak-ng") is None:
        pytest.skip("festival and espeak-ng (Debian packages) are needed to build a corpus")
    manifest = corpus.build(tmp_path, utts[:2] + held_out[:2])
    rows = corpus.read_manifest(manifest)
    assert {r["id"]: r["split"] for r in rows} == {"harvard_001": "train", "harvard_002": "train",
                                                   "harvard_701": "test", "harvard_702": "test"}
    trained_on = features.load(features.build(tmp_path))
    assert trained_on.names == ["harvard_001", "harvard_002"]
    assert trained_on.texts == [u.text for u in utts[:2]] and not held_texts & set(trained_on.texts)

    if shutil.which("bible") is not None:   # the full default corpus list (KJV verses from Debian's bible-kjv)
        full = corpus.default_utterances()
        assert not held_texts & {u.text for u in full if u.split == "train"}
        assert {u.id for u in full if u.split == "test"} == {u.id for u in held_out}


def test_batches_cover_every_item_once():
    lengths = [5, 300, 40, 41, 900, 12, 600, 33]
    batches = make_batches(lengths, batch_frames=1000, max_batch=3)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    assert all(len(b) <= 3 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 1000) for b in batches)


def test_training_lowers_loss_resumes_and_speaks(tiny_run):
    model_cfg, cfg = tiny_run
    trainer = Trainer(model_cfg, cfg, log=lambda m: None)
    batch = list(range(len(trainer.feats.ids)))
    with torch.no_grad():
        trainer.model.eval()
        before = float(trainer.model.loss(*_collate(trainer, batch)))
    trainer.run(max_steps=15)
    with torch.no_grad():
        trainer.model.eval()
        after = float(trainer.model.loss(*_collate(trainer, batch)))
    assert after < before - 0.05, (before, after)

    # Resume: a new trainer picks up the step count and weights from last.pt.
    again = Trainer(model_cfg, cfg, log=lambda m: None)
    assert again.state.step == 15
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    again.run()  # through the flow switch to total_steps
    assert again.state.step == cfg.total_steps and again.model.flow_active

    voice = again.voice()
    assert 0.0 < voice.duration_threshold < 1.0
    path = voice.save(Path(cfg.out_dir) / "voice.pt")
    loaded = load_voice(path)
    wav, sr = synthesize(loaded, "The birch canoe slid on the smooth planks.", temperature=0.0)
    assert sr == 22050 and wav.dtype == np.float32 and np.isfinite(wav).all() and len(wav) > 0
    wav2, _ = synthesize(loaded, "The birch canoe slid on the smooth planks.", temperature=0.0)
    assert np.array_equal(wav, wav2)
    a, _ = synthesize(loaded, "Glue the sheet.", temperature=0.667, seed=3)
    b, _ = synthesize(loaded, "Glue the sheet.", temperature=0.667, seed=3)
    c, _ = synthesize(loaded, "Glue the sheet.", temperature=0.667, seed=4)
    assert np.array_equal(a, b) and not (len(a) == len(c) and np.array_equal(a, c))
    batch_out = synthesize_batch(loaded, "Glue the sheet.", [0.0, 0.667, 1.0], [1, 1, 1], SynthesisOptions())
    assert len(batch_out.waveforms) == 3


def _collate(trainer, idx):
    from tts_temp.tts.train import collate

    return collate(trainer.feats, idx, trainer.device)


def test_train_command_stops_cleanly_on_ctrl_c_and_resumes(tiny_corpus, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    feats = features.build(tiny_corpus[0])
    config = tmp_path / "tiny.toml"
    base = (ROOT / "configs" / "voice-tiny.toml").read_text().replace("total_steps = 40", "total_steps = 100000")
    config.write_text(base.replace("[train]", f'[train]\nfeatures = "{feats}"\nout_dir = "{tmp_path / "run"}"\n'
                                              "log_every = 1"))
    cmd = [sys.executable, str(ROOT / "scripts" / "train_tts.py"), str(config)]
    # Start it as a shell starts a background job (SIGINT ignored), whatever started pytest: the
    # trainer must install its own handler for Ctrl-C to work there too.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    line = ""
    deadline = time.time() + 120
    while "step 3 " not in line and time.time() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ck["state"]["step"] >= 3
    again = subprocess.run(cmd + ["--max-steps", "1"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "resumed from" in again.stdout
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["state"]["step"] == ck["state"]["step"] + 1
