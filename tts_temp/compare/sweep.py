"""What both sweeps share: argument checks with user-facing messages, and the progress bar."""
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


class Progress:
    """One bar for a sweep: items done / total, ETA, and how many failed (tqdm; silent when stderr
    is not a terminal, as in CI logs and tests)."""

    def __init__(self, total: int, desc: str, initial: int = 0):
        from tqdm import tqdm

        self.failed = 0
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit="item", disable=None, leave=False,
                         dynamic_ncols=True)

    def advance(self, failed: bool = False) -> None:
        if failed:
            self.failed += 1
            self._bar.set_postfix(failed=self.failed, refresh=False)
        self._bar.update(1)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()
