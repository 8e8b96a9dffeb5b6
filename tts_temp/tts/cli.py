"""`tts-temp train`, and the arguments and loop of `tts-temp synthesize`.

The `synthesize` command itself is registered by `tts_temp.verify.cli`: its `--verify` needs the
ASR as well, and `tts` never imports `asr`. It passes its own batch function to `run_synthesize`.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from tts_temp.errors import UserError
from tts_temp.tts.defaults import DEFAULT_TEMPERATURE


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train or resume a voice from a TOML config",
                       description="Train (or resume from OUT_DIR/last.pt) a voice; Ctrl-C saves and exits.")
    t.add_argument("config", type=Path)
    t.add_argument("--max-minutes", type=float, default=None, help="stop after this much wall time")
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in this run")
    t.add_argument("--export", type=Path, default=None,
                   help="then write a voice (duration threshold calibrated on the training data)")
    t.add_argument("--export-only", action="store_true", help="skip training, just export")
    t.set_defaults(func=run_train)


def add_synthesize_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", help="text to speak (or use --text-file)")
    p.add_argument("--text-file", type=Path, help="one sentence per line -> OUT_DIR/0001.wav, 0002.wav, ...")
    p.add_argument("--out", type=Path, help="output wav (one text, one temperature and seed)")
    p.add_argument("--out-dir", type=Path, help="output folder (text files, or several temperatures/seeds)")
    p.add_argument("--voice", type=Path, default=None,
                   help="voice checkpoint, a shipped voice's name (slt-world-nsf, the default: WORLD frames through the "
                        "neural vocoder trained here; slt-world, the same model through WORLD; slt-small, the "
                        "Griffin-Lim voice before them), or a Coqui-TTS OverFlow folder")
    p.add_argument("--vocoder", type=Path, default=None,
                   help="a Coqui-TTS HiFi-GAN folder (default: the vocoder the voice names: neural, WORLD or Griffin-Lim)")
    p.add_argument("--temperature", type=float, nargs="+", default=None,
                   help=f"one or more temperatures (default: the voice's; {DEFAULT_TEMPERATURE:g}, the OverFlow "
                        "paper's listening-test value, for tts_temp voices, sampling_temp for Coqui models)")
    p.add_argument("--seed", type=int, default=None, help="seed for one output")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="several seeds, one output each")
    p.add_argument("--duration", choices=["threshold", "sample"], default=None,
                   help="deterministic durations (threshold) or sampled ones (default: the voice's)")
    p.add_argument("--duration-threshold", type=float, default=None,
                   help="stay-probability threshold (default: the voice's calibrated value)")
    p.add_argument("--speaking-rate", type=float, default=1.0, help=">1 faster, <1 slower (0.1 to 10)")
    p.add_argument("--max-seconds", type=float, default=20.0,
                   help="longest piece to generate, at most 600 (long text is split into pieces by its spoken "
                        "length, and a piece that reaches this is split again)")


def _jobs(args) -> list[tuple[str, Path]]:
    """(text, output path) pairs; the naming follows Piper/Coqui batch conventions."""
    if args.text_file is not None:
        if args.text is not None:
            raise UserError("give either TEXT or --text-file, not both")
        if args.out_dir is None:
            raise UserError("--text-file needs --out-dir")
        try:
            lines = [l.strip() for l in args.text_file.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{args.text_file}: cannot read ({exc.__class__.__name__})") from None
        lines = [l for l in lines if l]
        if not lines:
            raise UserError(f"{args.text_file}: no sentences")
        return [(l, args.out_dir / f"{i:04d}.wav") for i, l in enumerate(lines, 1)]
    if args.text is None:
        raise UserError("give TEXT or --text-file")
    if args.out is None and args.out_dir is None:
        raise UserError("give --out FILE.wav or --out-dir DIR")
    return [(args.text, args.out if args.out is not None else args.out_dir / "0001.wav")]


def _variants(args, default_temperature: float) -> list[tuple[float, int | None]]:
    from tts_temp.sampling.seeds import check_seed
    from tts_temp.sampling.temperature import check_temperature

    temps = [check_temperature(t) for t in (args.temperature or [default_temperature])]
    if args.seed is not None and args.seeds is not None:
        raise UserError("give either --seed or --seeds, not both")
    seeds = args.seeds if args.seeds is not None else [args.seed]
    seeds = [None if s is None else check_seed(s, "--seed" if args.seeds is None else "--seeds") for s in seeds]
    return [(t, s) for t in temps for s in seeds]


def format_number(x: float) -> str:
    """The shortest text that reads back as exactly x ("0.5", "0.5000001", "0", "1e-05"): names and
    printed values never merge two different temperatures."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _variant_path(path: Path, t: float, seed: int | None, many: bool) -> Path:
    if not many:
        return path
    tag = f"T{format_number(t)}" + ("" if seed is None else f"_s{seed}")
    return path.with_name(f"{path.stem}_{tag}{path.suffix}")


def run_synthesize(args, batch=None) -> int:
    """Synthesise every job. `batch` replaces tts.synthesize_batch (same arguments); when its result
    carries `records` (verified synthesis), each record is written as JSON beside its wav."""
    import json

    from tts_temp.audio import write_atomic_text, write_wav
    from tts_temp.sampling.temperature import check_temperature
    from tts_temp.tts import load_vocoder
    from tts_temp.tts.synthesize import SynthesisOptions, check_vocoder, synthesize_batch
    from tts_temp.tts.voice import load_voice

    batch = batch or synthesize_batch

    jobs = _jobs(args)
    for t in args.temperature or []:
        check_temperature(t)
    opts = SynthesisOptions(duration=args.duration, duration_threshold=args.duration_threshold,
                            speaking_rate=args.speaking_rate, max_seconds=args.max_seconds)
    opts.validate()
    voice = load_voice(args.voice)
    opts.max_frames(voice.timing.frames_per_second)   # a limit under two frames: one line, before any work
    vocoder = load_vocoder(args.vocoder) if args.vocoder is not None else None
    if vocoder is not None:
        check_vocoder(voice, vocoder)
    variants = _variants(args, voice.default_temperature)
    many = len(variants) > 1
    if many and args.out is not None and args.text_file is None:
        raise UserError("several temperatures or seeds need --out-dir")
    failed = 0
    for text, path in jobs:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = batch(voice, text, [v[0] for v in variants], [v[1] for v in variants], opts,
                            **({"vocoder": vocoder} if vocoder is not None else {}))
            records = getattr(out, "records", None) or [None] * len(variants)
            used = list(getattr(out, "used_seeds", None) or out.seeds)
            for (t, seed), wav, capped, record, drawn in zip(variants, out.waveforms, out.hit_max_length, records,
                                                           used):
                dest = _variant_path(path, t, seed, many)
                write_wav(dest, wav, out.sample_rate)
                note = " (hit --max-seconds)" if capped else ""
                if record is not None:
                    write_atomic_text(dest.with_suffix(".json"), json.dumps(record.to_dict(), indent=1) + "\n")
                    note += f"; {record.summary()}"
                print(f"{dest}  T={format_number(t)} seed={drawn} {len(wav) / out.sample_rate:.2f} s{note}")
            # After the writes: a result that cannot be written is one error line, nothing more. Each
            # message once: verified synthesis synthesises the same text again for each retry.
            for message in dict.fromkeys(str(w.message) for w in caught):
                print(f"tts-temp synthesize: warning: {message}", file=sys.stderr)
        except UserError as exc:
            if len(jobs) == 1:
                raise
            failed += 1
            print(f"tts-temp synthesize: error: {path.name}: {exc}", file=sys.stderr)
        except OSError as exc:
            raise UserError(f"{path}: cannot write ({exc.strerror or exc.__class__.__name__})") from None
    if failed:
        print(f"tts-temp synthesize: {failed} of {len(jobs)} sentences failed", file=sys.stderr)
        return 1
    return 0


def run_train(args) -> int:
    from tts_temp.tts.train import Trainer, load_config

    if not args.config.is_file():
        raise UserError(f"{args.config}: no such config")
    try:
        model_cfg, cfg = load_config(args.config)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{args.config}: {exc}") from None
    if not Path(cfg.features).is_file():
        raise UserError(f"{cfg.features}: no features; run scripts/make_corpus.py first")
    trainer = Trainer(model_cfg, cfg, log=lambda m: print(m, flush=True))
    if not args.export_only:
        trainer.run(max_steps=args.max_steps,
                    max_seconds=None if args.max_minutes is None else args.max_minutes * 60)
    if args.export:
        voice = trainer.voice()
        voice.save(args.export)
        print(f"exported {args.export} (step {trainer.state.step}, threshold {voice.duration_threshold})")
    return 0
