"""The sweeps' argument checks, with the messages a user sees (UserError: one line, exit 2)."""
from __future__ import annotations

from collections.abc import Iterable

from tts_temp.errors import UserError
from tts_temp.sampling.temperature import check_temperature


def check_temperatures(temperatures: Iterable[float]) -> list[float]:
    """Finite, >= 0, at least one; duplicates dropped (a repeated T would double-count)."""
    out: list[float] = []
    for t in temperatures:
        value = check_temperature(t)
        if value not in out:
            out.append(value)
    if not out:
        raise UserError("no temperatures given")
    return out


def check_seeds(seeds: int) -> int:
    if int(seeds) != seeds or seeds < 1:
        raise UserError(f"--seeds must be a whole number >= 1, got {seeds}")
    return int(seeds)
