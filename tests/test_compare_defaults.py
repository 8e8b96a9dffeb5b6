"""The TTS temperatures are defined once (tts/defaults.py); the commands, the sweep, the Coqui loader
and the scripts take them from there (issue 21: 0.334 and 0.667 were written as literals in several places)."""
from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

from test_tts_coqui import coqui  # noqa: F401 (a fixture: coqui-tts's own config classes)
from tts_temp.tts.defaults import COQUI_DURATION_THRESHOLD, COQUI_TEMPERATURE, DEFAULT_TEMPERATURE

ROOT = Path(__file__).resolve().parents[1]
THE_DEFINITION = ROOT / "tts_temp" / "tts" / "defaults.py"


def _parse(*argv):
    from tts_temp.cli import build_parser

    return build_parser().parse_args(list(argv))


def test_compare_tts_and_synthesize_default_to_the_one_definition(capsys):
    from tts_temp.compare.tts_sweep import DEFAULT_TEMPERATURES, EMISSION_TEMPERATURES, TtsSweepConfig

    assert DEFAULT_TEMPERATURES == (0.0, COQUI_TEMPERATURE, DEFAULT_TEMPERATURE, 1.0)
    assert EMISSION_TEMPERATURES[: len(DEFAULT_TEMPERATURES)] == DEFAULT_TEMPERATURES
    assert _parse("compare-tts", "--out", "x").temperatures == list(DEFAULT_TEMPERATURES)
    assert TtsSweepConfig(out_dir=Path("x")).temperatures == list(DEFAULT_TEMPERATURES)
    # synthesize: no temperature asked means the voice's, whose default is the one definition
    assert _parse("synthesize", "hello").temperature is None
    from tts_temp.tts.voice import Voice

    assert Voice.__dataclass_fields__["default_temperature"].default == DEFAULT_TEMPERATURE
    with pytest.raises(SystemExit):
        _parse("synthesize", "--help")
    assert f"{DEFAULT_TEMPERATURE:g}" in capsys.readouterr().out


def test_coqui_defaults_are_the_one_definition_and_coquis_own(coqui):  # noqa: F811
    from tts_temp.tts.coqui.model import MODEL_DEFAULTS, OverflowSettings

    reference = coqui.OverflowConfig()
    assert reference.sampling_temp == COQUI_TEMPERATURE and reference.duration_threshold == COQUI_DURATION_THRESHOLD
    assert OverflowSettings().sampling_temp == MODEL_DEFAULTS["overflow"]["sampling_temp"] == COQUI_TEMPERATURE
    assert OverflowSettings().duration_threshold == MODEL_DEFAULTS["overflow"]["duration_threshold"] \
        == COQUI_DURATION_THRESHOLD


def _number_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every number literal in the code (comments and docstrings are not numbers)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.NUMBER]


def test_no_other_module_or_script_writes_the_temperatures_again():
    written = {str(DEFAULT_TEMPERATURE), str(COQUI_TEMPERATURE), "0.333"}
    files = sorted((ROOT / "tts_temp").rglob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))
    found = [f"{p.relative_to(ROOT)}:{line}: {text}" for p in files if p != THE_DEFINITION
             for line, text in _number_literals(p) if text in written]
    assert found == []
    assert {text for _, text in _number_literals(THE_DEFINITION)} >= {str(DEFAULT_TEMPERATURE), str(COQUI_TEMPERATURE)}
