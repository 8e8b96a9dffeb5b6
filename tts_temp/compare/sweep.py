"""What both sweeps share: argument checks with user-facing messages, and the progress bar."""
from __future__ import annotations

import math
from collections.abc import Iterable

from tts_temp.errors import UserError


def check_temperatures(temperatures: Iterable[float]) -> list[float]:
    """Finite, >= 0, at least one; duplicates dropped (a repeated T would double-count)."""
    out: list[float] = []
    for t in temperatures:
        try:
            value = float(t)
        except (TypeError, ValueError):
            raise UserError(f"temperature must be a number, got {t!r}") from None
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise UserError(f"temperature must be a finite number >= 0, got {t}")
        if value not in out:
            out.append(value)
    if not out:
        raise UserError("no temperatures given")
    return out


def check_seeds(seeds: int) -> int:
    if int(seeds) != seeds or seeds < 1:
        raise UserError(f"--seeds must be a whole number >= 1, got {seeds}")
    return int(seeds)


def progress(total: int, desc: str):
    """A tqdm bar on a terminal; silent when stderr is not one (CI logs, tests)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=None, leave=False)
