"""`tts-temp synthesize` as a user meets it: outputs, batches, and every kind of bad input."""
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from tts_temp.cli import main

SENTENCE = "The birch canoe slid on the smooth planks."


def run(capsys, *argv):
    code = main(["synthesize", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_one_sentence_to_a_wav(tiny_voice_path, tmp_path, capsys):
    out = tmp_path / "a.wav"
    code, stdout, _ = run(capsys, SENTENCE, "--voice", tiny_voice_path, "--temperature", "0.667", "--seed", "3",
                          "--out", out)
    assert code == 0 and out.exists()
    wav, sr = sf.read(out)
    assert sr == 22050 and len(wav) > 0.2 * sr


def test_text_file_and_batches_of_temperatures_and_seeds(tiny_voice_path, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("Glue the sheet.\n\nThe box was thrown beside the truck.\n")
    code, _, _ = run(capsys, "--text-file", lines, "--voice", tiny_voice_path, "--temperature", "0", "0.667",
                     "--seeds", "1", "2", "--out-dir", tmp_path / "out")
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(f"{n:04d}_T{t}_s{s}.wav" for n in (1, 2) for t in ("0", "0.667") for s in (1, 2))
    a, _ = sf.read(tmp_path / "out" / "0001_T0_s1.wav")
    b, _ = sf.read(tmp_path / "out" / "0001_T0_s2.wav")
    assert np.array_equal(a, b)  # T=0 ignores the seed


def test_long_text_is_split_not_truncated(tiny_voice_path):
    from tts_temp.tts import load_voice, synthesize_batch

    voice = load_voice(tiny_voice_path)
    one = synthesize_batch(voice, SENTENCE, [0.0], [None])
    three = synthesize_batch(voice, " ".join([SENTENCE] * 3), [0.0], [None])
    assert len(three.waveforms[0]) > 2.9 * len(one.waveforms[0])


@pytest.mark.parametrize("argv, message", [
    (["   "], "text is empty"),
    (["?!. ,"], "nothing pronounceable"),
    ([SENTENCE, "--temperature", "-0.5"], "temperature"),
    ([SENTENCE, "--temperature", "nan"], "temperature"),
    ([SENTENCE, "--speaking-rate", "0"], "speaking rate"),
])
def test_bad_input_is_one_line_and_no_file(argv, message, tiny_voice_path, tmp_path, capsys):
    out = tmp_path / "x.wav"
    code, _, err = run(capsys, *argv, "--voice", tiny_voice_path, "--out", out)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_and_corrupt_voice(tmp_path, capsys):
    code, _, err = run(capsys, SENTENCE, "--voice", tmp_path / "nope.pt", "--out", tmp_path / "x.wav")
    assert code == 2 and "no such voice" in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    code, _, err = run(capsys, SENTENCE, "--voice", bad, "--out", tmp_path / "x.wav")
    assert code == 2 and "cannot read voice" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()


def test_unwritable_output_path(tiny_voice_path, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    code, _, err = run(capsys, SENTENCE, "--voice", tiny_voice_path, "--out", blocker / "x.wav")
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1


def test_one_bad_line_does_not_stop_the_batch(tiny_voice_path, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("Glue the sheet.\n?!\nThe box was thrown beside the truck.\n")
    code, _, err = run(capsys, "--text-file", lines, "--voice", tiny_voice_path, "--out-dir", tmp_path / "o")
    assert code == 1 and "0002.wav" in err and "1 of 3" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["0001.wav", "0003.wav"]


def test_no_traceback_from_the_console_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tts_temp.cli", "synthesize", "", "--out", str(tmp_path / "a.wav")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
