"""`tts-temp`: one entry point, one subcommand module per part of the product.

Each part registers its own subcommands (`register(subparsers)`), so this file only dispatches
and turns expected failures into one clear line on stderr and a non-zero exit code.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from tts_temp.audio import AudioError
from tts_temp.errors import UserError

# Modules that provide `register(subparsers)`; each subparser sets `func(args) -> int`.
_PARTS = ("tts_temp.asr.cli", "tts_temp.tts.cli", "tts_temp.verify.cli", "tts_temp.compare.cli", "tts_temp.demo",
          "tts_temp.serve.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tts-temp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _PARTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a part not built yet must not break the others
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        # A shell starts background jobs with SIGINT ignored, and children inherit that: Ctrl-C or
        # kill -INT would then be lost. Every command stops cleanly on it (sweeps and training
        # keep what they wrote and resume), so take it back.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, AudioError) as exc:
        print(f"tts-temp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tts-temp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
