"""Shared by the CLI tests: the house rule that bad input is exactly one line on stderr."""
from __future__ import annotations


def one_error_line(err: str) -> str:
    """The single non-empty stderr line (asserting there is exactly one and no traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]
