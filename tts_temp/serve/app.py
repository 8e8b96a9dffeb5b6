"""The FastAPI app: state loaded in the background, the routers, the page, auth and the upload limit.

Models load on a thread after the server has started, so /health answers from the first second
(503 "loading", then 200 "ok"); API requests made while loading get a 503 with Retry-After.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse

from tts_temp.serve import errors
from tts_temp.serve.errors import ApiError, busy
from tts_temp.serve.registry import Catalogue
from tts_temp.serve.types import ErrorResponse, Health
from tts_temp.serve.workers import KINDS, make_pool

log = logging.getLogger("tts_temp.serve")
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "bad input: audio, text, an option, a model or a voice"},
    401: {"model": ErrorResponse, "description": "missing or wrong API key (when the server has one)"},
    413: {"model": ErrorResponse, "description": "the request is over the upload limit"},
    503: {"model": ErrorResponse, "description": "loading, or the queue is full (see Retry-After)"},
}


@dataclass
class ServeConfig:
    """`tts-temp serve`'s options, as the app needs them."""

    models: list[str]
    voices: list[str] = field(default_factory=list)
    vocoder: str | None = None
    device: str | None = None
    compute_type: str | None = None
    workers: int = 1
    worker_kind: str = KINDS[0]   # the first kind is the default (processes)
    threads: int | None = None    # torch threads per worker; None: cores / workers
    queue: int = 8
    api_key: str | None = None
    max_upload_mb: float = 25.0


class ServerState:
    """What the routers share: the catalogue (None while loading), the pool, the config.

    The catalogue answers the lookups (names, defaults, what a model can do); the models themselves
    are loaded where the jobs run: once in this process for thread workers, once in each worker
    process otherwise (this process then holds no weights)."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.pool = make_pool(config.worker_kind, config.workers, config.queue, config.threads)
        self.catalogue: Catalogue | None = None
        self._status, self._detail = "loading", None
        self.started = int(time.time())
        self.on_failure: Callable[[str], None] = lambda message: None

    @property
    def status(self) -> str:
        return "failed" if self.pool.failure is not None else self._status

    @property
    def detail(self) -> str | None:
        return f"no worker is running: {self.pool.failure}" if self.pool.failure is not None else self._detail

    def load(self) -> None:
        try:
            self.pool.start(self.config)
            catalogue = self.pool.ready()
            for line in catalogue.summary():
                log.info(line)
            self.catalogue = catalogue
            self._status = "ok"
            log.info("ready")
        except Exception as exc:  # a model that does not load stops the server with its message
            self._status, self._detail = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("loading failed: %s", self._detail)
            self.pool.shutdown()
            self.on_failure(self._detail)

    def ready(self) -> Catalogue:
        if self.pool.failure is not None:
            raise ApiError(503, self.detail or "", code="worker_failed")
        if self.catalogue is None:
            if self.status == "failed":
                raise ApiError(503, f"the server failed to load: {self.detail}", code="load_failed")
            raise busy("the server is loading its models; retry shortly", retry_after=5)
        return self.catalogue


class UploadLimit:
    """ASGI middleware: a body over the limit is refused with 413, by Content-Length or while streaming."""

    class TooLarge(Exception):
        pass

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        error = ApiError(413, f"the request is over the upload limit of {self.max_bytes / 2**20:g} MB",
                         code="file_too_large")
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await error.response()(scope, receive, send)
        seen, started, exceeded = 0, False, False

        async def counted_receive():
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise UploadLimit.TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            if exceeded:
                return  # whatever the app made of the aborted body, the answer is 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await error.response()(scope, receive, send)


def page() -> str:
    return resources.files("tts_temp.serve").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(config: ServeConfig, load_in_background: bool = True) -> FastAPI:
    from tts_temp.serve.routers import models, speech, stt

    state = ServerState(config)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        if load_in_background:
            threading.Thread(target=state.load, name="tts-temp-loader", daemon=True).start()
        else:
            state.load()
        yield
        state.pool.shutdown()

    app = FastAPI(title="tts_temp", version="0.1.0", lifespan=lifespan,
                  description="OpenAI's audio API (transcriptions, translations, speech) where temperature and "
                              "seed are first-class fields. Extensions are marked in each field's description.")
    app.state.serve = state
    errors.install(app)

    async def check_key(request: Request) -> None:
        key = config.api_key
        if key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), key.encode()):
            raise ApiError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                           code="invalid_api_key")

    for router in (stt.router, speech.router, models.router):
        app.include_router(router, prefix="/v1", dependencies=[Depends(check_key)], responses=ERROR_RESPONSES)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}}, tags=["health"])
    async def health() -> JSONResponse:
        """200 once models are loaded; 503 while loading (or when loading failed)."""
        body = Health(status=state.status, detail=state.detail).model_dump()
        return JSONResponse(body, status_code=200 if state.status == "ok" else 503,
                            headers={} if state.status == "ok" else {"Retry-After": "5"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page())

    def openapi() -> dict:
        """FastAPI's schema without its 422 (validation errors are 400s here, in OpenAI's shape)."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for item in schema.get("paths", {}).values():
                for op in item.values():
                    op.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(UploadLimit, max_bytes=int(config.max_upload_mb * 2**20))
    return app
