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
    from tts_temp.roundtrip import DEFAULT_MAX_CER
    from tts_temp.tts.cli import add_synthesize_arguments

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
                        "temperatures 0.8, 0.6, ... below T down to 0, e.g. for T=0.667: "
                        "0.667@1,0.667@2 0.6,0.4,0.2,0. Implies --verify")
    v.add_argument("--verify-model", default=None, metavar="MODEL",
                   help="Whisper model that listens (default tiny.en, bundled); implies --verify")
    p.set_defaults(func=run_synthesize)


def policy_from_args(args):
    """The VerifyPolicy the options ask for, or None without verification. Raises UserError."""
    from tts_temp.roundtrip import DEFAULT_MAX_CER, VerifyPolicy, parse_schedule

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
    from tts_temp.roundtrip import load_recogniser, synthesize_batch

    recogniser = load_recogniser(args.verify_model or "tiny.en")   # fails (exit 2) before any synthesis
    return run_tts(args, batch=functools.partial(synthesize_batch, verify=True, policy=policy,
                                                 recogniser=recogniser))
