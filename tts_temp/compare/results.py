"""results.jsonl: one JSON record per finished item, appended as it finishes, so a sweep resumes.

Each record has a "key" naming its item. A rerun reads the file, skips keys already there and
appends the rest. A record is written as one line and flushed + fsynced, so a run killed at any
moment loses at most the item in progress; a torn last line (killed mid-write) is cut off when the
file is opened again. Records whose item failed carry "error": they are retried on a rerun (a bad
input fails again quickly; a passing one replaces it), and the last record for a key wins.

A run folder also keeps run.json, the settings that change what an item's numbers mean (model,
voice, references): a rerun with different ones is refused rather than mixing incompatible rows.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from tts_temp.audio import write_atomic_text
from tts_temp.errors import UserError


def _clean(value: Any) -> Any:
    """JSON has no NaN: store None for non-finite floats."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class ResultsFile:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: dict[str, dict] = {}
        self._repair_and_read()

    def _repair_and_read(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):  # a torn last line from a killed run: drop it
            with open(self.path, "r+b") as f:
                f.truncate(end)
            data = data[:end]
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                self.records[rec["key"]] = rec

    def done(self, key: str) -> bool:
        rec = self.records.get(key)
        return rec is not None and not rec.get("error")

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def append(self, record: dict) -> dict:
        record = _clean(record)
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["key"]] = record
        return record


def check_run_settings(out_dir: Path, settings: dict) -> None:
    """Record the settings of a run folder; refuse to resume one made with different settings."""
    path = out_dir / "run.json"
    settings = _clean(settings)
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old is not None and old != settings:
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise UserError(f"{out_dir} holds a run with different settings ({', '.join(changed)}); "
                            "use another --out folder")
        if old is not None:
            return
    write_atomic_text(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """Write rows as CSV atomically; None / NaN become empty cells, floats keep 4 decimals."""
    import csv
    import io

    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: show(r.get(k), "", 4) for k in columns})
    return write_atomic_text(path, buf.getvalue())


def show(value: Any, missing: str = "–", digits: int = 3) -> str:
    """How every table (terminal, CSV, HTML) writes a value: None / NaN as `missing`, floats rounded."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
