"""Build the training corpus: festival's slt HTS voice reading Harvard sentences and KJV verses.

Everything is deterministic (fixed sentence selection, festival's HTS engine has no randomness,
fixed resampling), so a new machine rebuilds the same corpus in a couple of minutes and the
manifest's checksums prove it. Harvard 701-720 are held out for evaluation and never trained on.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf

from tts_temp.audio import write_atomic_text, write_wav

# Package data (not the repository's folders), so a wheel install reads the same file.
HARVARD = Path(str(resources.files("tts_temp") / "data" / "harvard_sentences.txt"))
HELD_OUT = range(700, 720)  # 0-based indices of Harvard 701-720
FESTIVAL_VOICE = "voice_cmu_us_slt_arctic_hts"
FESTIVAL_RATE = 32000


@dataclass(frozen=True)
class Utterance:
    id: str
    text: str
    split: str  # "train" or "test"


def harvard() -> list[Utterance]:
    lines = [l.strip() for l in HARVARD.read_text(encoding="utf-8").splitlines() if l.strip()]
    return [Utterance(f"harvard_{i + 1:03d}", t, "test" if i in HELD_OUT else "train") for i, t in enumerate(lines)]


def kjv_verses(target_words: int, books: tuple[str, ...] = ("Prv1:1-31:31", "Ps1:1-150:6")) -> list[Utterance]:
    """Short, plain verses in book order until `target_words` words (Debian's `bible` command)."""
    out: list[Utterance] = []
    words = 0
    for spec in books:
        proc = subprocess.run(["bible", "-f", "-l", "100000", spec], capture_output=True, text=True, check=True)
        for line in proc.stdout.splitlines():
            m = re.match(r"(\w+?)(\d+):(\d+) (.+)", line.strip())
            if not m:
                continue
            book, chap, verse, text = m.groups()
            n = len(text.split())
            if not 6 <= n <= 18 or not re.fullmatch(r"[A-Za-z ,.;:!?'-]+", text):
                continue
            out.append(Utterance(f"kjv_{book.lower()}_{int(chap):03d}_{int(verse):03d}", text, "train"))
            words += n
            if words >= target_words:
                return out
    return out


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_batch(items: list[tuple[str, Path]]) -> None:
    """Synthesise (text, path) pairs with one festival process (start-up is most of the cost)."""
    lines = [f"({FESTIVAL_VOICE})"]
    lines += [f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(t)})) {_scheme_string(str(p))} 'riff)"
              for t, p in items]
    with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        subprocess.run(["festival", "-b", f.name], check=True, capture_output=True)
    finally:
        Path(f.name).unlink(missing_ok=True)


def trim_silence(wav: np.ndarray, sr: int, keep: float = 0.05, top_db: float = 40.0) -> np.ndarray:
    """Cut leading/trailing silence, keeping `keep` seconds on each side."""
    import librosa

    _, (start, end) = librosa.effects.trim(wav, top_db=top_db, frame_length=1024, hop_length=128)
    pad = int(keep * sr)
    return wav[max(0, start - pad):min(len(wav), end + pad)]


def default_utterances(kjv_words: int = 4500) -> list[Utterance]:
    return harvard() + kjv_verses(kjv_words)


def build(out_dir: Path, utts: list[Utterance] | None = None, sample_rate: int = 22050, workers: int = 2) -> Path:
    """Write out_dir/wavs/*.wav and out_dir/manifest.tsv; skips utterances already built."""
    import librosa

    utts = default_utterances() if utts is None else utts
    wav_dir = out_dir / "wavs"
    raw_dir = out_dir / "raw"
    wav_dir.mkdir(parents=True, exist_ok=True)
    raw_dir.mkdir(parents=True, exist_ok=True)
    todo = [u for u in utts if not (wav_dir / f"{u.id}.wav").exists()]
    chunks = [todo[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda ch: festival_batch([(u.text, raw_dir / f"{u.id}.wav") for u in ch]) if ch else None,
                      chunks))
    for u in todo:
        raw, sr = sf.read(str(raw_dir / f"{u.id}.wav"), dtype="float32")
        wav = librosa.resample(raw, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
        write_wav(wav_dir / f"{u.id}.wav", trim_silence(wav, sample_rate), sample_rate)
        (raw_dir / f"{u.id}.wav").unlink()
    rows = ["id\tsplit\tseconds\tsha256\ttext"]
    for u in utts:
        path = wav_dir / f"{u.id}.wav"
        info = sf.info(str(path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append(f"{u.id}\t{u.split}\t{info.frames / info.samplerate:.3f}\t{digest}\t{u.text}")
    manifest = out_dir / "manifest.tsv"
    write_atomic_text(manifest, "\n".join(rows) + "\n")
    return manifest


def read_manifest(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    keys = lines[0].split("\t")
    return [dict(zip(keys, l.split("\t", len(keys) - 1))) for l in lines[1:] if l]


def manifest_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
