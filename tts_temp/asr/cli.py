"""`tts-temp transcribe`: whisper's CLI options plus a seeded sampler and visible attempts.

Options are checked before any audio is read, so a bad option fails at once with one line.
Each file is transcribed and written on its own: a bad file is reported and skipped, the others
still finish, and the exit code says that something failed. Outputs are written atomically.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

from tts_temp.asr.fallback import FallbackPolicy, WHISPER_SCHEDULE
from tts_temp.asr.options import TranscribeOptions, in_models_language
from tts_temp.asr.packaged import BUNDLED
from tts_temp.audio import AudioError, atomic_path
from tts_temp.errors import UserError

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
# whisper's CLI samples and beams 5 by default (its Python API: neither); the server shares these
BEST_OF = 5
BEAM_SIZE = 5
SCHEDULE_TEXT = f"{WHISPER_SCHEDULE[0]:g}, {WHISPER_SCHEDULE[1]:g}, ..., {WHISPER_SCHEDULE[-1]:g}"


def parse_bool(value: str) -> bool:
    """whisper's CLI booleans (True/False, also 1/0 and yes/no), for every flag that takes one."""
    lowered = str(value).lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


def _optional_float(value: str) -> float | None:
    return None if value == "None" else float(value)


def _optional_int(value: str) -> int | None:
    return None if value == "None" else int(value)


def _flag(p: argparse.ArgumentParser, name: str, *short: str, **kw) -> None:
    """Add `--a-b` with whisper's `--a_b` spelling as an alias."""
    names = [f"--{name}"] + ([f"--{name.replace('-', '_')}"] if "-" in name else []) + list(short)
    p.add_argument(*names, **kw)


def register(sub: argparse._SubParsersAction) -> None:
    fallback = FallbackPolicy()  # the thresholds' defaults, defined once in asr.fallback
    p = sub.add_parser("transcribe", help="transcribe audio with Whisper at a chosen temperature",
                       description=f"Transcribe audio. No --temperature: whisper's fallback schedule "
                                   f"{SCHEDULE_TEXT}. One value: exactly that temperature (with "
                                   "--temperature-increment-on-fallback: T, T+X, ... up to 1.0). "
                                   "Several values: that schedule.")
    p.add_argument("audio", nargs="+", help="audio file(s): wav, flac, ogg; other formats through ffmpeg")
    _flag(p, "model", default=BUNDLED,
          help=f"'{BUNDLED}' (bundled), 'base' (extra tts_temp[base]), a checkpoint path, a CTranslate2 folder, "
               "or a model in whisper's cache")
    _flag(p, "device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available, as whisper)")
    _flag(p, "compute-type", default=None, metavar="TYPE",
          help="as faster-whisper's: float32, int8 (CPU, faster) or float16 (CUDA) (default: float16 on CUDA, "
               "float32 on the CPU)")
    _flag(p, "fp16", type=parse_bool, default=None,
          help="decode in float16 (whisper's default on CUDA; ignored on the CPU)")
    _flag(p, "temperature", type=float, nargs="+", default=None, metavar="T", help="temperature(s) to use")
    _flag(p, "temperature-increment-on-fallback", type=_optional_float, default=None, metavar="X")
    _flag(p, "best-of", type=_optional_int, default=BEST_OF, help="samples per attempt when T > 0")
    _flag(p, "beam-size", type=_optional_int, default=BEAM_SIZE, help="beams at T = 0 (None: greedy)")
    _flag(p, "patience", type=float, default=None)
    _flag(p, "length-penalty", type=float, default=None)
    _flag(p, "top-k", type=int, default=None, help="sample only among the k most likely tokens")
    _flag(p, "top-p", type=float, default=None, help="sample only from the nucleus of mass p, in (0, 1]")
    _flag(p, "seed", type=int, default=None, help="seed for sampled attempts (default: drawn and reported)")
    _flag(p, "compression-ratio-threshold", type=_optional_float, default=fallback.compression_ratio_threshold)
    _flag(p, "logprob-threshold", type=_optional_float, default=fallback.logprob_threshold)
    _flag(p, "no-speech-threshold", type=_optional_float, default=fallback.no_speech_threshold)
    _flag(p, "prompt-reset-temperature", type=float, default=fallback.prompt_reset_temperature,
          help="reset the text prompt after a window kept above this temperature")
    _flag(p, "condition-on-previous-text", type=parse_bool, nargs="?", const=True, default=True)
    _flag(p, "initial-prompt", default=None)
    _flag(p, "word-timestamps", type=parse_bool, nargs="?", const=True, default=False)
    _flag(p, "language", default=None, help="language code or name (default: detected, as whisper)")
    _flag(p, "task", choices=("transcribe", "translate"), default="transcribe",
          help="transcribe, or translate into English (multilingual models)")
    _flag(p, "clip-timestamps", default="0",
          help="comma-separated start,end,... seconds of the clips to process (whisper's option)")
    _flag(p, "hallucination-silence-threshold", type=_optional_float, default=None, metavar="SECONDS",
          help="with --word-timestamps: skip silences longer than this before a likely hallucination")
    _flag(p, "carry-initial-prompt", type=parse_bool, nargs="?", const=True, default=False,
          help="prepend --initial-prompt to every window's prompt (whisper's option)")
    _flag(p, "vad-filter", type=parse_bool, nargs="?", const=True, default=False,
          help="decode only the speech Silero VAD finds (faster-whisper's option); times stay the original's")
    _flag(p, "vad-parameters", default=None, metavar="JSON",
          help='Silero VAD parameters as JSON, e.g. \'{"min_silence_duration_ms": 500}\'')
    _flag(p, "on-all-failed", choices=("last", "best"), default=fallback.on_all_failed,
          help="when every temperature fails: whisper's last attempt, or the best by avg logprob")
    _flag(p, "output-format", "-f", choices=(*FORMATS, "all"), default=None,
          help="default: json to stdout, or all formats with --output-dir")
    _flag(p, "output-dir", "-o", default=None, help="write AUDIO_NAME.EXT files here instead of stdout")
    _flag(p, "verbose", type=parse_bool, nargs="?", const=True, default=False, help="print segments as they are decoded")
    p.set_defaults(func=run)
    p.error = _one_line_error  # argparse's own errors (a bad number, a missing value): one line too


def _one_line_error(message: str) -> None:
    """argparse prints its usage text and the error; the house rule is one line and exit 2."""
    print(f"tts-temp transcribe: error: {one_line(message)}", file=sys.stderr)
    sys.exit(2)


def one_line(text: str) -> str:
    """`text` with every character that would break the line escaped (a file name may hold a
    newline, or U+2028), so that an error stays one line."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if len(f"a{ch}a".splitlines()) > 1 else ch
                   for ch in text)


def _options(args: argparse.Namespace) -> TranscribeOptions:
    """Check every option before touching audio; turn bad values into UserError."""
    from tts_temp.asr.fallback import schedule
    from tts_temp.asr.options import AudioOptions, DecodeOptions, PromptOptions, WordOptions
    from tts_temp.asr.sampler import SamplingOptions
    from tts_temp.asr.vad import VadOptions
    from tts_temp.sampling.seeds import check_seed

    for name in ("compression_ratio_threshold", "logprob_threshold", "no_speech_threshold", "patience",
                 "length_penalty", "prompt_reset_temperature", "hallucination_silence_threshold"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
    for name in ("best_of", "beam_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    try:
        policy = FallbackPolicy(temperatures=schedule(args.temperature, args.temperature_increment_on_fallback),
                                compression_ratio_threshold=args.compression_ratio_threshold,
                                logprob_threshold=args.logprob_threshold, no_speech_threshold=args.no_speech_threshold,
                                prompt_reset_temperature=args.prompt_reset_temperature,
                                on_all_failed=args.on_all_failed)
        sampling = SamplingOptions(top_k=args.top_k, top_p=args.top_p,
                                   seed=None if args.seed is None else check_seed(args.seed, "--seed"))
        decoding = DecodeOptions(task=args.task, language=args.language, best_of=args.best_of,
                                 beam_size=args.beam_size, patience=args.patience, length_penalty=args.length_penalty,
                                 fp16=args.fp16)
        try:
            vad_parameters = json.loads(args.vad_parameters) if args.vad_parameters else None
        except ValueError as exc:  # json.JSONDecodeError
            raise UserError(f"--vad-parameters is not JSON ({exc})") from exc
        vad = VadOptions.from_parameters(vad_parameters) if vad_parameters is not None or args.vad_filter else None
        audio = AudioOptions(clip_timestamps=args.clip_timestamps, vad=vad if args.vad_filter else None)
        prompt = PromptOptions(condition_on_previous_text=args.condition_on_previous_text,
                               initial_prompt=args.initial_prompt, carry_initial_prompt=args.carry_initial_prompt)
        words = WordOptions(word_timestamps=args.word_timestamps,
                            hallucination_silence_threshold=args.hallucination_silence_threshold)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__) from exc
    return TranscribeOptions(decoding=decoding, policy=policy, sampling=sampling, prompt=prompt, words=words,
                             audio=audio)


def render(transcript, fmt: str) -> str:
    """One output format as text: our JSON schema, or whisper's writers for the others."""
    if fmt == "json":  # to_dict maps NaN and infinities to null; allow_nan=False proves it
        return json.dumps(transcript.to_dict(), ensure_ascii=False, allow_nan=False)
    from whisper.utils import get_writer

    buffer = io.StringIO()
    writer = get_writer(fmt, ".")
    options = {"highlight_words": False, "max_line_width": None, "max_line_count": None, "max_words_per_line": None}
    writer.write_result(transcript.to_whisper_dict(), file=buffer, options=options)
    return buffer.getvalue()


def _prepare_output_dir(folder: Path) -> None:
    """Make the output folder now (before any audio is read), or say in one line why it cannot be."""
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{folder}: --output-dir cannot be made: {parent} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{folder}: --output-dir cannot be made ({exc.strerror or exc})") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{folder}: --output-dir is not writable")


def write_all(files: dict[Path, str]) -> None:
    """Write every file or none: all go to temp files beside their targets first, and are renamed
    into place only once all of them are written (a UserError leaves no new file behind)."""
    temps: dict[Path, Path] = {}
    try:
        for target, text in files.items():
            if target.is_dir():
                raise UserError(f"{target}: cannot write the output, a folder has that name")
            temps[target] = atomic_path(target)[1]  # beside the target, with the usual permissions
            temps[target].write_bytes(text.encode("utf-8"))
        for target, tmp in temps.items():
            os.replace(tmp, target)
    except OSError as exc:
        raise UserError(f"cannot write the outputs in {next(iter(files)).parent} ({exc.strerror or exc})") from exc
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UserError as exc:  # its text may quote a path or value holding a line break
        raise UserError(one_line(str(exc))) from exc


def _run(args: argparse.Namespace) -> int:
    options = _options(args)
    fmt = args.output_format or ("all" if args.output_dir else "json")
    if fmt == "all" and not args.output_dir:
        raise UserError("--output-format all needs --output-dir")
    if args.output_dir:
        _prepare_output_dir(Path(args.output_dir))

    from tts_temp.asr.transcribe import transcribe
    from tts_temp.asr.weights import load_model

    model = load_model(args.model, device=args.device, compute_type=args.compute_type)
    if not model.is_multilingual and options.decoding.language not in (None, "en"):
        # as whisper's CLI: an English-only model cannot do another language
        print(f"tts-temp transcribe: warning: {one_line(args.model)} is an English-only model but got language "
              f"{options.decoding.language!r}; using English instead", file=sys.stderr)
    options = replace(in_models_language(options, model), verbose=bool(args.verbose))
    failed = 0
    for path in args.audio:
        try:
            transcript = transcribe(model, path, options)
            formats = FORMATS if fmt == "all" else (fmt,)
            rendered = {f: render(transcript, f) for f in formats}  # all in memory before any write
        except (UserError, AudioError, ValueError) as exc:
            print(f"tts-temp transcribe: error: {one_line(str(exc))}", file=sys.stderr)
            failed += 1
            continue
        if args.output_dir:
            stem = Path(path).stem
            try:
                write_all({Path(args.output_dir) / f"{stem}.{f}": text for f, text in rendered.items()})
            except UserError as exc:
                print(f"tts-temp transcribe: error: {one_line(str(exc))}", file=sys.stderr)
                failed += 1
                continue
        else:
            sys.stdout.write(rendered[fmt] + ("\n" if not rendered[fmt].endswith("\n") else ""))
            sys.stdout.flush()
    if failed:
        print(f"tts-temp transcribe: {failed} of {len(args.audio)} file(s) failed", file=sys.stderr)
        return 2
    return 0
