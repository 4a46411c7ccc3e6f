"""The FastAPI application of ``python -m tfgenre.serve`` and the uvicorn server around it.

Routes:
    ``GET /``: the page (``static/index.html``); ``GET /static/<file>``: its files.
    ``GET /healthz``: ``{"status": "ok", "models": [names]}``.
    ``GET /api/models``: ``{"models": [ModelInfo...], "limits": {...}}``.
    ``POST /api/predict``: multipart ``file`` (+ ``model``, ``top_k``, ``segments``,
    ``hop_seconds``) -> the object ``predict --format json`` gives for that file, with
    ``path`` the client's file name (its last component).
    ``GET /openapi.json``: the OpenAPI description (FastAPI's; its ``/docs`` page is off,
    as it loads scripts from a CDN).

Every refusal is ``{"error": {"code", "message"}}``: 400 a bad field or a file that
cannot be decoded, 404 an unknown model, 413 an upload over ``--max-upload-mb``
(refused while it streams in), 422 audio longer than ``--max-seconds``, 503 with
``Retry-After`` when ``workers + queue`` requests are already in progress.

Inference runs in a pool of ``workers`` threads, off the event loop; each model was
loaded and warmed up once at start-up (:func:`tfgenre.webapp.served.load_models`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from tfgenre.core import audio
from tfgenre.errors import AudioDecodeError, ConfigError, TfgenreError
from tfgenre.webapp.limits import ServeLimits
from tfgenre.webapp.served import ServedModel
from tfgenre.webapp.uploads import Upload, UploadError, receive_upload

logger = logging.getLogger(__name__)

#: The page's files (HTML, JS, CSS), served at ``/`` and ``/static/``.
STATIC_DIR = Path(__file__).parent / "static"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

PREDICT_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "audio file: wav, au, flac, ogg or mp3, any rate",
                    },
                    "model": {
                        "type": "string",
                        "description": "served model name (GET /api/models); optional "
                        "when one model is served",
                    },
                    "top_k": {"type": "integer", "minimum": 1, "default": 3},
                    "segments": {
                        "type": "boolean",
                        "default": True,
                        "description": "include the per-segment timeline",
                    },
                    "hop_seconds": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "distance between window starts (default: the model's)",
                    },
                },
            }
        }
    },
}

_ERROR_SCHEMA = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            }
        }
    }
}


class Gate:
    """Bounds the requests in progress and runs inference in a pool of threads.

    At most ``limits.workers`` inferences run at once; ``limits.queue`` more requests
    may wait (or still be uploading); beyond that :meth:`admit` says no.
    """

    def __init__(self, limits: ServeLimits) -> None:
        self.limits = limits
        self.in_flight = 0
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=limits.workers, thread_name_prefix="tfgenre-infer"
        )

    def admit(self) -> bool:
        """Counts a new request in, unless ``workers + queue`` are in progress."""
        if self.in_flight >= self.limits.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        """Counts a finished request out."""
        self.in_flight -= 1

    async def run(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` in the pool, awaited without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def close(self) -> None:
        """Stops the pool; waiting inferences are cancelled."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON of every refusal: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}


def _field_bool(fields: Mapping[str, str], name: str, default: bool) -> bool:
    raw = fields.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UploadError(400, "bad_field", f"{name}={raw!r} must be true or false")


def _field_int(fields: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = fields.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise UploadError(400, "bad_field", f"{name}={raw!r} must be an integer") from None
    if value < minimum:
        raise UploadError(400, "bad_field", f"{name}={value} must be >= {minimum}")
    return value


def _field_seconds(fields: Mapping[str, str], name: str) -> float | None:
    raw = fields.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        raise UploadError(400, "bad_field", f"{name}={raw!r} must be a number") from None
    if not (math.isfinite(value) and value > 0):
        raise UploadError(400, "bad_field", f"{name}={raw!r} must be a number > 0")
    return value


def pick_model(models: Mapping[str, ServedModel], requested: str | None) -> ServedModel:
    """The model a request names (by served name or by its ``--model`` value).

    Raises:
        UploadError: 400 when several are served and none is named, 404 for an unknown one.
    """
    if requested is None or requested.strip() == "":
        if len(models) == 1:
            return next(iter(models.values()))
        raise UploadError(
            400, "bad_field", f"model is required: one of {', '.join(models)}"
        )
    if requested in models:
        return models[requested]
    for model in models.values():
        if requested == model.argument:
            return model
    raise UploadError(
        404, "unknown_model", f"model={requested!r} is not served; served: {', '.join(models)}"
    )


def infer(
    model: ServedModel,
    upload: Upload,
    limits: ServeLimits,
    *,
    top_k: int,
    segments: bool,
    hop_seconds: float | None,
) -> dict[str, Any]:
    """Checks the duration, decodes and predicts an upload (runs in a pool thread).

    Returns:
        ``TrackPrediction.to_json(top_k, segments)`` with ``path`` the client's file name.

    Raises:
        UploadError: 400 undecodable, 422 too long.
    """
    try:
        seconds = audio.header_seconds(upload.path)
        if seconds > limits.max_seconds:
            raise UploadError(
                422,
                "audio_too_long",
                f"{upload.filename}: {seconds:.1f} s of audio is longer than the limit of "
                f"{limits.max_seconds:g} s (the server's --max-seconds)",
            )
        pred = model.predict_file(upload.path, upload.filename, hop_seconds)
    except AudioDecodeError as err:
        message = str(err).replace(upload.path, upload.filename)
        raise UploadError(400, "undecodable", message) from None
    except ConfigError as err:
        raise UploadError(400, "bad_field", str(err)) from None
    return pred.to_json(top_k, segments)


def create_app(
    models: Mapping[str, ServedModel],
    limits: ServeLimits,
    *,
    static_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """The FastAPI app serving ``models`` under ``limits``.

    Args:
        models: Loaded models by served name (at least one).
        limits: Upload, duration and concurrency limits.
        static_dir: The page's folder (default :data:`STATIC_DIR`).

    Returns:
        A ``fastapi.FastAPI`` app.
    """
    from tfgenre import __version__

    if not models:
        raise ConfigError("models={} must hold at least one model")
    static = Path(static_dir) if static_dir is not None else STATIC_DIR
    gate = Gate(limits)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        yield
        gate.close()

    app = FastAPI(
        title="tfgenre",
        version=str(__version__),
        description="Genres (a trained tfgenre run) or tags (a published weight set) of "
        "uploaded audio files; the JSON of `python -m tfgenre.predict --format json`.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: off, so that
        # nothing the server offers needs the internet; /openapi.json is the description
        docs_url=None,
        redoc_url=None,
    )
    app.state.gate = gate
    _add_error_handlers(app)
    _add_info_routes(app, models, limits)
    _add_predict_route(app, models, limits, gate)
    _add_page(app, static)
    return app


def _refuse(err: UploadError, limits: ServeLimits) -> JSONResponse:
    """The JSON error response of a refused request (503s say when to retry)."""
    headers = {"Retry-After": str(limits.retry_after_seconds)} if err.status == 503 else None
    return JSONResponse(error_body(err.code, err.message), err.status, headers=headers)


def _add_error_handlers(app: Any) -> None:
    """HTTP errors and unexpected failures as the JSON error body, never an HTML page."""

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        logger.error("request failed", exc_info=exc)
        return JSONResponse(
            error_body("internal", f"the server failed on this request ({type(exc).__name__})"),
            500,
        )


def _add_info_routes(app: Any, models: Mapping[str, ServedModel], limits: ServeLimits) -> None:
    """``/healthz`` and ``/api/models``."""

    @app.get("/healthz", summary="The server is up; the names of the served models")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": list(models)}

    @app.get("/api/models", summary="The served models: kind, labels, framing, accuracy")
    async def api_models() -> dict[str, Any]:
        return {
            "models": [m.info.to_json() for m in models.values()],
            "limits": {
                "max_upload_bytes": limits.max_upload_bytes,
                "max_seconds": limits.max_seconds,
                "workers": limits.workers,
                "queue": limits.queue,
            },
        }


def _add_predict_route(
    app: Any, models: Mapping[str, ServedModel], limits: ServeLimits, gate: Gate
) -> None:
    """``POST /api/predict``: one upload, admitted by ``gate``, answered as predict's JSON."""

    @app.post(
        "/api/predict",
        summary="Genres or tags of one uploaded audio file (predict --format json)",
        openapi_extra={"requestBody": PREDICT_REQUEST_BODY},
        responses={
            400: {"description": "bad field or undecodable file", **_ERROR_SCHEMA},
            404: {"description": "unknown model", **_ERROR_SCHEMA},
            413: {"description": "upload larger than --max-upload-mb", **_ERROR_SCHEMA},
            422: {"description": "audio longer than --max-seconds", **_ERROR_SCHEMA},
            503: {"description": "busy: retry after Retry-After seconds", **_ERROR_SCHEMA},
        },
    )
    async def api_predict(request: Request) -> Response:
        if not gate.admit():
            return _refuse(
                UploadError(
                    503,
                    "busy",
                    f"the server is busy ({limits.workers} inference(s) running and "
                    f"{limits.queue} waiting at most); retry after "
                    f"{limits.retry_after_seconds} s",
                ),
                limits,
            )
        try:
            result = await _predict_upload(request, models, limits, gate)
        except UploadError as err:
            return _refuse(err, limits)
        except ClientDisconnect:
            logger.info("client disconnected during the upload")
            return Response(status_code=400)
        except TfgenreError as err:
            logger.error("prediction failed: %s", err)
            return JSONResponse(error_body("prediction_failed", str(err)), 500)
        finally:
            gate.release()
        return JSONResponse(result)


async def _predict_upload(
    request: Request, models: Mapping[str, ServedModel], limits: ServeLimits, gate: Gate
) -> dict[str, Any]:
    """Receives the upload, reads its fields, predicts in the gate's pool, removes it."""
    upload = await receive_upload(request.headers, request.stream(), limits)
    try:
        model = pick_model(models, upload.fields.get("model"))
        options = {
            "top_k": _field_int(upload.fields, "top_k", 3, 1),
            "segments": _field_bool(upload.fields, "segments", True),
            "hop_seconds": _field_seconds(upload.fields, "hop_seconds"),
        }
        return await gate.run(lambda: infer(model, upload, limits, **options))
    finally:
        upload.remove()


def _add_page(app: Any, static: Path) -> None:
    """``/``: the upload page, and ``/static`` its files when installed."""

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        page = static / "index.html"
        if not page.is_file():
            return JSONResponse(error_body("not_found", "the page is not installed"), 404)
        return FileResponse(page)

    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")


# ----------------------------------------------------------------------------- server


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port`` 0: a free one), not yet listening.

    Raises:
        TfgenreError: when the address cannot be used (in use, not this machine's).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise TfgenreError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise TfgenreError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    return sock


def socket_url(sock: socket.socket, host: str) -> str:
    """``http://HOST:PORT/`` of a bound socket (the real port when 0 was asked for)."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def run_server(
    app: Any,
    sock: socket.socket,
    *,
    on_started: Callable[[], None] | None = None,
    log_level: str = "INFO",
    graceful_seconds: float = 5.0,
) -> None:
    """Serves ``app`` on ``sock`` until SIGINT or SIGTERM, then shuts down cleanly.

    Unlike ``uvicorn.run``, the signal that stopped the server is not raised again
    afterwards, so the caller returns normally (the command exits 0).

    Args:
        app: The ASGI app.
        sock: A bound socket (:func:`bind_socket`).
        on_started: Called once the server accepts connections.
        log_level: Level of uvicorn's own logs.
        graceful_seconds: How long in-flight requests may finish after the signal.
    """
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if on_started is not None and not self.should_exit:
                on_started()

    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level.lower(),
        timeout_graceful_shutdown=graceful_seconds,
        lifespan="on",
    )
    _Server(config).run(sockets=[sock])
