"""The package's structure: every class name is defined once, so a name says which class it is."""
from __future__ import annotations

import ast
import collections
from pathlib import Path

import tts_temp

PACKAGE = Path(tts_temp.__file__).parent


def class_definitions(root: Path) -> dict[str, list[str]]:
    """Class name -> every place (file:line) a class of that name is defined, at any depth."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_the_walk_sees_the_packages_classes():
    found = class_definitions(PACKAGE)
    assert any(p.startswith("tts_temp/tts/flow.py:") for p in found["FlowDecoder"])
    assert any(p.startswith("tts_temp/tts/encoder.py:") for p in found["Encoder"])
    assert len(found) > 50


def test_no_class_name_is_defined_twice():
    twice = {name: places for name, places in class_definitions(PACKAGE).items() if len(places) > 1}
    assert not twice, "class names defined more than once: " + "; ".join(
        f"{name} ({', '.join(places)})" for name, places in sorted(twice.items()))
