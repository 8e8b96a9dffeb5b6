"""The CLI's own parsers, reused: a request starts from exactly the defaults `tts-temp transcribe` /
`tts-temp synthesize` start from, and goes through the same checks, so the two cannot drift apart."""
from __future__ import annotations

import argparse
import functools
from typing import Any


@functools.lru_cache(maxsize=None)
def _defaults(module: str, command: str, positional: tuple[str, ...]) -> dict[str, Any]:
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(module).register(parser.add_subparsers(dest="command"))
    return vars(parser.parse_args([command, *positional]))


def transcribe_options(**overrides: Any):
    """`tts-temp transcribe` defaults + overrides -> the TranscribeOptions its `run` passes to
    `transcribe` (checked by the CLI's own `_options`: a bad value is a UserError with the CLI's message)."""
    from tts_temp.asr.cli import _options

    args = argparse.Namespace(**{**_defaults("tts_temp.asr.cli", "transcribe", ("-",)), **overrides})
    return _options(args)


def synthesize_defaults() -> dict[str, Any]:
    """`tts-temp synthesize`'s defaults (duration, threshold, max seconds, ...)."""
    return dict(_defaults("tts_temp.verify.cli", "synthesize", ()))
