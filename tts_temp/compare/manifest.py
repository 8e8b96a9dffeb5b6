"""What an ASR sweep reads: audio paths with optional reference texts, from a manifest or a folder.

Accepted, as speech-corpus tools write them:
- TSV or CSV with a header row naming an `audio` column and optionally `reference`;
- JSONL, one object per line with the same keys;
- a LibriSpeech-style folder: `*.trans.txt` files whose lines are `UTTERANCE-ID TEXT`, beside
  `UTTERANCE-ID.flac` (or .wav).
Relative audio paths resolve against the manifest's folder, so a manifest moves with its corpus.

A row that cannot be used (no audio field, a missing file, a line that is not JSON) does not stop
the sweep: it becomes an `Entry` with an `error`, recorded as a failed item. A manifest that
cannot be read at all, or that has no `audio` column, is a `UserError`.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from tts_temp.errors import UserError

AUDIO_SUFFIXES = (".flac", ".wav")


@dataclass(frozen=True)
class Entry:
    audio: Path
    reference: str | None = None
    source: str = ""            # where it came from ("test.tsv:5"), for error messages
    error: str | None = None    # a bad row: recorded as a failed item, the sweep goes on


def _text(value) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _entry(base: Path, audio, reference, source: str) -> Entry:
    audio = _text(audio)
    if audio is None:
        return Entry(Path(f"<row {source}>"), None, source, f"{source}: no audio path")
    path = Path(audio)
    if not path.is_absolute():
        path = base / path
    error = None if path.is_file() else f"{source}: {path}: no such file"
    return Entry(path, _text(reference), source, error)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc.__class__.__name__})") from None


def _table(path: Path, delimiter: str) -> list[Entry]:
    reader = csv.reader(_read_text(path).splitlines(), delimiter=delimiter)
    rows = [(n, r) for n, r in enumerate(reader, 1) if any(cell.strip() for cell in r)]  # file line numbers
    if not rows:
        raise UserError(f"{path}: the manifest is empty")
    header = [h.strip().lower() for h in rows[0][1]]
    if "audio" not in header:
        raise UserError(f"{path}: the header must name an 'audio' column (found: {', '.join(header)})")
    a, r = header.index("audio"), header.index("reference") if "reference" in header else None
    out = []
    for n, row in rows[1:]:
        cell = lambda i: row[i] if i is not None and i < len(row) else None  # noqa: E731
        out.append(_entry(path.parent, cell(a), cell(r), f"{path.name}:{n}"))
    return out


def _jsonl(path: Path) -> list[Entry]:
    out = []
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        source = f"{path.name}:{n}"
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            out.append(Entry(Path(f"<row {source}>"), None, source, f"{source}: not a JSON object ({exc})"))
            continue
        out.append(_entry(path.parent, row.get("audio"), row.get("reference"), source))
    return out


def _librispeech(folder: Path) -> list[Entry]:
    out = []
    for trans in sorted(folder.rglob("*.trans.txt")):
        for n, line in enumerate(_read_text(trans).splitlines(), 1):
            if not line.strip():
                continue
            utt, _, text = line.strip().partition(" ")
            source = f"{trans.relative_to(folder)}:{n}"
            audio = next((trans.parent / f"{utt}{s}" for s in AUDIO_SUFFIXES if (trans.parent / f"{utt}{s}").is_file()),
                         trans.parent / f"{utt}{AUDIO_SUFFIXES[0]}")
            out.append(_entry(trans.parent, audio, text, source))
    if not out:
        raise UserError(f"{folder}: no *.trans.txt files (a LibriSpeech-style folder) found")
    return out


def read_manifest(path: str | Path) -> list[Entry]:
    """Entries in manifest order (a folder: sorted by transcript file, then line)."""
    path = Path(path)
    if path.is_dir():
        return _librispeech(path)
    if not path.is_file():
        raise UserError(f"{path}: no such manifest")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        entries = _jsonl(path)
    elif suffix == ".csv":
        entries = _table(path, ",")
    else:
        entries = _table(path, "\t")
    if not entries:
        raise UserError(f"{path}: the manifest lists no audio")
    return entries
