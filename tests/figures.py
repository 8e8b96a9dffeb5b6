"""Test helpers that look at what a report shows, not just that files exist.

`capture_figures()` records every figure the sweeps save, from the matplotlib objects just before
they are written: titles, axis labels, and the data of each line, bar and error bar. `table_shapes()`
parses an HTML page and counts, for every table, the header cells and each row's cells (colspan
included), so a row that does not line up with its header is caught.
"""
from __future__ import annotations

import contextlib
from html.parser import HTMLParser

import numpy as np
import pytest

from tts_temp.compare import plots


def _axes_data(ax) -> dict:
    return {
        "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
        "lines": [(np.asarray(l.get_xdata(), float).tolist(), np.asarray(l.get_ydata(), float).tolist(),
                   l.get_label()) for l in ax.get_lines()],
        "bars": [p.get_height() for p in ax.patches],
        "images": len(ax.get_images()),
        "texts": [t.get_text() for t in ax.texts],
        "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
    }


@contextlib.contextmanager
def capture_figures():
    """Yields {file name: [axes data, ...]} filled in as the code under test saves figures."""
    seen: dict[str, list[dict]] = {}
    real = plots._save

    def spy(fig, out_dir, name):
        seen[name] = [_axes_data(ax) for ax in fig.axes]
        return real(fig, out_dir, name)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "_save", spy)
        yield seen


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._row: list[int] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"header": 0, "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(int(dict(attrs).get("colspan", 1)))

    def handle_endtag(self, tag):
        if tag == "thead":
            self._in_head = False
        elif tag == "tr" and self._row is not None:
            if self._in_head:
                self.tables[-1]["header"] = sum(self._row)
            else:
                self.tables[-1]["rows"].append(sum(self._row))
            self._row = None


def table_shapes(page: str) -> list[dict]:
    """[{"header": cells in the header row, "rows": [cells in each body row]}] per table."""
    parser = _Tables()
    parser.feed(page)
    return parser.tables
