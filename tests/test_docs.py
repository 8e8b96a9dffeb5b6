"""The documentation keeps its promises: README's Python examples run, and no link points nowhere.

Every ```python block of README.md runs as a user would paste it: as a file in an empty folder,
by this interpreter (the project's venv), in a fresh process, using only what the package ships.
A block that needs something the package cannot ship (a downloaded checkpoint) is marked by the
line `<!-- docs-test: skip REASON -->` right above its fence, and is skipped with that reason.

Every relative link of README.md and docs/*.md must name an existing file, and a `#fragment` must
name a heading of the target page (GitHub's anchor rule).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*(.*?)\s*-->")
FENCE = re.compile(r"^(```|~~~)")


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line number of the fence, code, skip reason or None) for each ```python block."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() in ("```python", "```py"):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not FENCE.match(lines[i].strip()):
                body.append(lines[i])
                i += 1
            before = next((l for l in reversed(lines[:start - 1]) if l.strip()), "")
            marker = SKIP.search(before)
            out.append((start, "\n".join(body) + "\n", (marker.group(1) or "marked") if marker else None))
        i += 1
    return out


def test_the_block_finder_sees_blocks_and_skip_markers():
    text = "x\n```python\nprint(1)\n```\n<!-- docs-test: skip needs a download -->\n\n```python\na = 1\n```\n" \
           "```bash\necho no\n```\n"
    assert python_blocks(text) == [(2, "print(1)\n", None), (7, "a = 1\n", "needs a download")]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_examples_and_stays_short():
    assert len(BLOCKS) >= 3
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 300


@pytest.mark.parametrize("line,code,skip", BLOCKS, ids=[f"README.md:{b[0]}" for b in BLOCKS])
def test_readme_python_block_runs_in_an_empty_folder(line, code, skip, tmp_path):
    if skip:
        pytest.skip(f"README.md:{line}: {skip}")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    run = subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, f"README.md:{line} failed:\n{code}\n--- stderr ---\n{run.stderr[-3000:]}"


# --- links ------------------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans (links there are not links)."""
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_anchors_follow_githubs_rule():
    text = "# Verified synthesis (`--verify`)\n## Coqui's OverFlow\n## Setup\n## Setup\n```\n# not a heading\n```\n"
    assert anchors(text) == {"verified-synthesis---verify", "coquis-overflow", "setup", "setup-1"}


def _links():
    for page in PAGES:
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):   # http:, https:, mailto: are not ours to check
                yield page, target


LINKS = list(_links())


def test_the_pages_link_to_each_other():
    assert any(p == README and t.startswith("docs/") for p, t in LINKS)
    assert {p.name for p in PAGES} >= {"README.md", "asr.md", "tts.md", "coqui.md", "compare.md",
                                       "benchmarks.md", "design.md"}


@pytest.mark.parametrize("page,target", LINKS, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in LINKS])
def test_relative_link_resolves(page, target):
    path, _, fragment = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    assert dest.exists(), f"{page.relative_to(ROOT)}: {target} -> {dest} does not exist"
    if fragment and dest.suffix == ".md":
        assert fragment in anchors(dest.read_text(encoding="utf-8")), \
            f"{page.relative_to(ROOT)}: {target}: no heading with anchor #{fragment} in {dest.name}"
