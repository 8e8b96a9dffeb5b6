"""The sweeps' progress bar."""
from __future__ import annotations


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
