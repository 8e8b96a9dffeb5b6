"""Corpus -> training tensors: symbol ids, acoustic frames and their normalisation statistics.

The frames are log-mels or WORLD frames (tts_temp.tts.frames says which; the file records it).
For mels one scalar mean and std over all training frames (as OverFlow does) keeps the mel shape
intact; WORLD frames add per-channel statistics for the F0, voicing and aperiodicity channels.
The statistics are stored with the voice, so synthesis de-normalises with exactly what training
used. Frame counts are cut to a multiple of the flow's squeeze factor, so no frame is ever padded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch

from tts_temp.tts import corpus, frames as frames_mod
from tts_temp.tts.mel import MelConfig
from tts_temp.tts.text import FrontEnd


@dataclass
class Features:
    names: list[str]
    texts: list[str]
    ids: list[torch.Tensor]   # (L,) long
    frames: list[torch.Tensor]  # (channels, T): natural-log mel, or WORLD frames
    mean: float | torch.Tensor  # scalar, or (channels, 1)
    std: float | torch.Tensor
    timing: MelConfig         # sample rate, hop (and a mel kind's mel settings)
    frontend: FrontEnd
    corpus_sha256: str
    spec: dict = None         # the feature spec (tts_temp.tts.frames); None in old files = mel

    def __post_init__(self):
        if self.spec is None:
            self.spec = frames_mod.mel_spec(self.timing)

    @property
    def mels(self) -> list[torch.Tensor]:
        """Deprecated name of `frames` (WORLD frames are not mels)."""
        return self.frames

    def normalised(self, i: int) -> torch.Tensor:
        return (self.frames[i] - self.mean) / self.std


def default_path(corpus_dir: Path, phonemes: bool = True, kind: str = "mel") -> Path:
    """corpus/features_phonemes.pt for mels (as before), features_phonemes_world.pt for WORLD."""
    return corpus_dir / f"features_{'phonemes' if phonemes else 'letters'}{'' if kind == 'mel' else '_' + kind}.pt"


def build(corpus_dir: Path, phonemes: bool = True, cfg: MelConfig | None = None, squeeze: int = 2,
          split: str = "train", spec: dict | None = None, workers: int = 1) -> Path:
    """Analyse every `split` utterance of the corpus; `spec` picks the kind (default: mel with `cfg`).

    `workers` > 1 analyses in that many processes (WORLD's Harvest runs at ~0.4 x real time).
    """
    spec = spec or frames_mod.mel_spec(cfg)
    timing = frames_mod.timing(spec)
    manifest = corpus_dir / "manifest.tsv"
    front = FrontEnd(phonemes=phonemes)
    rows = [r for r in corpus.read_manifest(manifest) if r["split"] == split]
    paths = [str(corpus_dir / "wavs" / f"{r['id']}.wav") for r in rows]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            frames = list(pool.map(_analyse_file, paths, [spec] * len(paths), chunksize=4))
    else:
        frames = [_analyse_file(p, spec) for p in paths]
    frames = [m[:, : m.shape[1] - m.shape[1] % squeeze] for m in frames]
    names = [r["id"] for r in rows]
    texts = [r["text"] for r in rows]
    ids = [torch.tensor(front.ids(r["text"]), dtype=torch.long) for r in rows]
    mean, std = frames_mod.statistics(torch.cat(frames, dim=1), spec)
    out = default_path(corpus_dir, phonemes, spec["kind"])
    torch.save({
        "names": names, "texts": texts, "ids": ids, "mels": frames, "mean": mean, "std": std,  # file keys as before
        "mel": timing.to_dict(), "features": dict(spec),
        "frontend": {"phonemes": front.phonemes, "voice": front.voice},
        "corpus_sha256": corpus.manifest_digest(manifest),
    }, out)
    return out


def _analyse_file(path: str, spec: dict) -> torch.Tensor:
    wav, sr = sf.read(path, dtype="float32")
    rate = frames_mod.timing(spec).sample_rate
    assert sr == rate, f"{path}: {sr} Hz, expected {rate}"
    return frames_mod.analyse(wav, spec)


def load(path: Path) -> Features:
    d = torch.load(path, weights_only=True)
    return Features(d["names"], d["texts"], d["ids"], d["mels"], frames_mod.as_stat(d["mean"]),
                    frames_mod.as_stat(d["std"]), MelConfig(**d["mel"]), FrontEnd(**d["frontend"]),
                    d["corpus_sha256"], d.get("features"))
