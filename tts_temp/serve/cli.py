"""`tts-temp serve`: OpenAI's audio API on uvicorn, over the models and voices named at start."""
from __future__ import annotations

import argparse
import logging
import math
import sys

from tts_temp.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from tts_temp.serve.workers import KINDS, default_workers

    p = sub.add_parser("serve", help="an OpenAI-compatible speech server (transcriptions, translations, speech)",
                       description="Serve OpenAI's audio API, temperature and seed as first-class fields, and a "
                                   "page at / to compare temperatures side by side. Binds 127.0.0.1 by default: "
                                   "use --api-key before binding anything wider.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", action="append", default=None, metavar="NAME",
                   help="a Whisper model to serve (repeatable; the first is whisper-1). Default: base when its "
                        "packages are installed, and tiny.en")
    p.add_argument("--voice", action="append", default=None, metavar="NAME|PATH",
                   help="a voice to serve besides the shipped ones (repeatable; the first is the default and "
                        "tts-1's; otherwise slt-world-nsf). Requests name voices by name, never by path")
    p.add_argument("--vocoder", default=None, metavar="PATH",
                   help="a Coqui-TTS HiFi-GAN folder, used by every served voice whose rate and hop it fits")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--compute-type", default=None, metavar="TYPE", help="float32, int8 (CPU) or float16 (CUDA)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help=f"workers, each with cores / N torch threads (default: one per core, {default_workers()} here)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads per worker (default: cores / workers, so the workers never oversubscribe "
                        "the cores; faster-whisper's cpu_threads)")
    p.add_argument("--worker-kind", choices=KINDS, default=KINDS[0],
                   help="process (default): each worker is a process with its own copy of the models, as uvicorn's "
                        "and gunicorn's workers; thread: one copy shared by threads (less memory, but whisper's "
                        "Python decoding loop holds the GIL, so threads scale poorly)")
    p.add_argument("--queue", type=int, default=8, help="requests that may wait beyond the workers; more get 503")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help="require 'Authorization: Bearer KEY' on /v1 (also read from $TTS_TEMP_API_KEY)")
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="largest request body (OpenAI's limit: 25)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    if not 0 <= args.port < 65536:
        raise UserError(f"--port must be in [0, 65535], got {args.port}")
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be >= 1, got {args.threads}")
    if args.queue < 0:
        raise UserError(f"--queue must be >= 0, got {args.queue}")
    if not (math.isfinite(args.max_upload_mb) and args.max_upload_mb > 0):
        raise UserError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart)
        import uvicorn
    except ImportError as exc:
        raise UserError(f"serve needs the extra: pip install 'tts_temp[serve]' ({exc.name} is missing)") from None
    import torch

    from tts_temp.serve.app import ServeConfig, create_app
    from tts_temp.serve.registry import default_models
    from tts_temp.serve.workers import torch_threads

    api_key = args.api_key or os.environ.get("TTS_TEMP_API_KEY") or None
    if args.host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        print(f"tts-temp serve: warning: binding {args.host} without --api-key: anyone who can reach it can use it",
              file=sys.stderr)
    torch.set_num_threads(args.threads or torch_threads(args.workers))
    config = ServeConfig(models=list(dict.fromkeys(args.model or default_models())), voices=args.voice or [],
                         vocoder=args.vocoder, device=args.device, compute_type=args.compute_type,
                         workers=args.workers, worker_kind=args.worker_kind, threads=args.threads,
                         queue=args.queue, api_key=api_key, max_upload_mb=args.max_upload_mb)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                                           timeout_graceful_shutdown=5))
    failure: list[str] = []

    def stop(message: str) -> None:
        failure.append(message)
        server.should_exit = True

    app.state.serve.on_failure = stop
    server.run()
    if failure:
        raise UserError(failure[0])
    return 0
