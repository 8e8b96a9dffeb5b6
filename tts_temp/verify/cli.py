"""`tts-temp synthesize`: the TTS command, with `--verify` (transcribe each output and draw again).

It lives here, above `tts` and `asr`, because verification needs both and they never import each
other. The arguments and the synthesis loop are the TTS part's (`tts.cli`); this module adds the
verify options, checks them before anything is synthesised, and hands `tts.cli.run_synthesize` a
batch function that verifies.
"""
from __future__ import annotations

import argparse
import functools


def register(sub: argparse._SubParsersAction) -> None:
    from tts_temp.tts.cli import add_synthesize_arguments
    from tts_temp.tts.defaults import DEFAULT_TEMPERATURE
    from tts_temp.verify.policy import DEFAULT_MAX_CER, default_retries

    p = sub.add_parser("synthesize", help="speak text with the OverFlow-style voice at a sampling temperature",
                       description="Speak text. Temperature scales the latent sample: z = mu + T * sigma * eps.")
    add_synthesize_arguments(p)
    v = p.add_argument_group("verified synthesis (transcribe each output with Whisper; draw again when it misses)")
    v.add_argument("--verify", action="store_true",
                   help="check each output by ASR; write NAME.json (every attempt) beside each NAME.wav")
    v.add_argument("--verify-cer", type=float, default=None, metavar="C",
                   help=f"largest character error rate that passes, in (0, 1] (default {DEFAULT_MAX_CER}); implies --verify")
    v.add_argument("--verify-schedule", nargs="+", default=None, metavar="STEP",
                   help="what to try after the asked T and seed miss: one argument per step (one batch), "
                        "candidates 'T' or 'T@K' (seed + K) joined by commas; default: 'T@1,T@2' then the lower "
                        f"temperatures 0.8, 0.6, ... below T down to 0, e.g. for T={DEFAULT_TEMPERATURE:g}: "
                        f"{_shown(default_retries(DEFAULT_TEMPERATURE))}. Implies --verify")
    v.add_argument("--verify-model", default=None, metavar="MODEL",
                   help="Whisper model that listens (default tiny.en, bundled); implies --verify")
    p.set_defaults(func=run_synthesize)


def _shown(schedule) -> str:
    """A schedule as --verify-schedule takes it."""
    return " ".join(",".join(map(str, step)) for step in schedule)


def policy_from_args(args):
    """The VerifyPolicy the options ask for, or None without verification. Raises UserError."""
    from tts_temp.verify.policy import DEFAULT_MAX_CER, VerifyPolicy, parse_schedule

    if not (args.verify or args.verify_cer is not None or args.verify_schedule or args.verify_model):
        return None
    max_cer = DEFAULT_MAX_CER if args.verify_cer is None else args.verify_cer  # VerifyPolicy checks it
    retries = parse_schedule(args.verify_schedule) if args.verify_schedule else None
    return VerifyPolicy(max_cer=max_cer, retries=retries)


def run_synthesize(args) -> int:
    from tts_temp.tts.cli import run_synthesize as run_tts

    policy = policy_from_args(args)
    if policy is None:
        return run_tts(args)
    from tts_temp import verify
    from tts_temp.asr.packaged import BUNDLED

    recogniser = verify.load_recogniser(args.verify_model or BUNDLED)   # fails (exit 2) before any synthesis
    return run_tts(args, batch=functools.partial(verify.synthesize_batch, verify=True, policy=policy,
                                                 recogniser=recogniser))
