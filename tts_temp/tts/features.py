"""Corpus -> training tensors: symbol ids, log-mels and the global normalisation statistics.

One scalar mean and std over all training frames (as OverFlow does) keeps the mel shape intact
and is stored with the voice, so synthesis de-normalises with exactly what training used.
Frame counts are cut to a multiple of the flow's squeeze factor, so no frame is ever padded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch

from tts_temp.tts import corpus
from tts_temp.tts.mel import MelConfig, log_mel
from tts_temp.tts.text import FrontEnd


@dataclass
class Features:
    names: list[str]
    texts: list[str]
    ids: list[torch.Tensor]   # (L,) long
    mels: list[torch.Tensor]  # (n_mels, T) natural-log mel
    mean: float
    std: float
    mel: MelConfig
    frontend: FrontEnd
    corpus_sha256: str

    def normalised(self, i: int) -> torch.Tensor:
        return (self.mels[i] - self.mean) / self.std


def build(corpus_dir: Path, phonemes: bool = True, cfg: MelConfig = MelConfig(), squeeze: int = 2,
          split: str = "train") -> Path:
    manifest = corpus_dir / "manifest.tsv"
    front = FrontEnd(phonemes=phonemes)
    names, texts, ids, mels = [], [], [], []
    for row in corpus.read_manifest(manifest):
        if row["split"] != split:
            continue
        wav, sr = sf.read(str(corpus_dir / "wavs" / f"{row['id']}.wav"), dtype="float32")
        assert sr == cfg.sample_rate, f"{row['id']}: {sr} Hz, expected {cfg.sample_rate}"
        mel = log_mel(wav, cfg)
        mel = mel[:, : mel.shape[1] - mel.shape[1] % squeeze]
        names.append(row["id"])
        texts.append(row["text"])
        ids.append(torch.tensor(front.ids(row["text"]), dtype=torch.long))
        mels.append(mel)
    frames = torch.cat(mels, dim=1)
    out = corpus_dir / f"features_{'phonemes' if phonemes else 'letters'}.pt"
    torch.save({
        "names": names, "texts": texts, "ids": ids, "mels": mels,
        "mean": float(frames.mean()), "std": float(frames.std()),
        "mel": cfg.to_dict(), "frontend": {"phonemes": front.phonemes, "voice": front.voice},
        "corpus_sha256": corpus.manifest_digest(manifest),
    }, out)
    return out


def load(path: Path) -> Features:
    d = torch.load(path, weights_only=True)
    return Features(d["names"], d["texts"], d["ids"], d["mels"], d["mean"], d["std"], MelConfig(**d["mel"]),
                    FrontEnd(**d["frontend"]), d["corpus_sha256"])
