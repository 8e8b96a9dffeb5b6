"""`tts-temp`: one entry point, one subcommand module per part of the product.

Each part registers its own subcommands (`register(subparsers)`), so this file only dispatches
and turns expected failures into one clear line on stderr and a non-zero exit code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from tts_temp.audio import AudioError
from tts_temp.errors import UserError

# Modules that provide `register(subparsers)`; each subparser sets `func(args) -> int`.
_PARTS = ("tts_temp.asr.cli", "tts_temp.tts.cli", "tts_temp.roundtrip_cli", "tts_temp.compare.cli", "tts_temp.demo")


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
