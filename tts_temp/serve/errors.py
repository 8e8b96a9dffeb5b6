"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`, whatever went wrong.

The CLI's own failures (UserError, AudioError: bad options, unreadable audio) become 400s with the
CLI's one-line message; request validation becomes a 400 naming the field; a worker process that
died under a request is a 503 with Retry-After (it is started again); anything unexpected is
a 500 with a generic message (the traceback goes to the server's log, never to the client).
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tts_temp.audio import AudioError
from tts_temp.errors import UserError

log = logging.getLogger("tts_temp.serve")

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         405: "invalid_request_error", 413: "invalid_request_error", 503: "server_busy", 500: "server_error"}


class ApiError(Exception):
    """An error the client should see, with its HTTP status and OpenAI's fields."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def busy(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(503, message, code="server_busy", headers={"Retry-After": str(retry_after)})


def install(app: FastAPI) -> None:
    """Route every exception through ApiError.response()."""
    from tts_temp.serve.processes import WorkerDied

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(UserError)
    @app.exception_handler(AudioError)
    async def _user(_: Request, exc: Exception) -> JSONResponse:
        return ApiError(400, str(exc)).response()

    @app.exception_handler(WorkerDied)
    async def _died(_: Request, exc: WorkerDied) -> JSONResponse:
        return ApiError(503, f"the worker running this request stopped ({exc}); retry shortly", code="worker_died",
                        headers={"Retry-After": "5"}).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "header", "path")]
        param = ".".join(loc) or None
        message = f"{param}: {first.get('msg', 'invalid value')}" if param else first.get("msg", "invalid request")
        return ApiError(400, message, param=param, code="invalid_value").response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return ApiError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return ApiError(500, f"internal error ({type(exc).__name__}); see the server's log").response()
