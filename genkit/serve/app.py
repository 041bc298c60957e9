"""The HTTP service: `create_app(export_dirs)` -> a FastAPI app serving each export by its name.

    GET  /                               the web page (genkit.serve.page)
    GET  /health                         {"status": "ok", "models": [...]}: every export's sessions are loaded
    GET  /v1/models                      each model: family, data shape and range, classes, what it accepts;
                                         the server's limits (max_n, max_upload_bytes)
    GET  /v1/stats                       each model's worker: queued and running requests, batches run, batch sizes
    POST /v1/models/{name}/sample        JSON (genkit.serve.requests.SampleRequest) -> PNG grid | .npz | JSON
    POST /v1/models/{name}/translate     multipart: file (.npz/.png/.jpg), direction, format -> PNG | .npz | JSON
    POST /v1/models/{name}/score         multipart: file, metric, label -> JSON anomaly score per image

Every error is JSON `{"error": "<field>: what was wrong and what to do"}`: 404 for an unknown
model or path, 413 for an upload over the limit, 422 for a bad field or a value the model does
not take, 503 with Retry-After when the model's queue is full. A bug answers 500 with a short
message; its traceback goes to the server's log, never into the body.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from genkit.errors import GenkitError, closest
from genkit.runtime.images import read_images, save_grid, save_samples
from genkit.serve.batcher import QueueFull
from genkit.serve.model import ServedModel
from genkit.serve.page import PAGE
from genkit.serve.requests import FORMATS, SampleRequest, describe_validation_errors

__all__ = ["MAX_UPLOAD_BYTES", "create_app"]

MAX_UPLOAD_BYTES = 16 * 2**20  # one translate/score upload (an .npz of 20,000 28x28 digits is 15.7 MB)
_UPLOAD_SUFFIXES = (".npz", ".png", ".jpg", ".jpeg")  # what read_images reads
_MEDIA = {"png": "image/png", "npz": "application/octet-stream", "json": "application/json"}
log = logging.getLogger("genkit.serve")


class UploadTooLarge(Exception):
    """An upload over the limit: answered 413."""


def create_app(
    export_dirs, *, max_batch: int = 64, max_queue: int = 64, max_n: int = 256, max_upload_bytes: int = MAX_UPLOAD_BYTES, window_s: float = 0.005
) -> FastAPI:
    """Open every export (a GenkitError if one is not a usable export) and serve them.

    Args:
        export_dirs: export folders; each is served under its manifest's name, which must be unique.
        max_batch: images one batched onnxruntime call may hold.
        max_queue: requests one model keeps waiting; one more is answered 503.
        max_n: images one request may ask for (n, z's latents, or an upload's images).
        max_upload_bytes: the size of one uploaded file.
        window_s: how long a model's worker waits for more requests to join a batch.
    """
    models: dict[str, ServedModel] = {}
    for folder in export_dirs:
        model = ServedModel(folder, max_batch=max_batch, max_queue=max_queue, window_s=window_s)
        if model.name in models:
            raise GenkitError(f"{folder} and {models[model.name].sampler.export_dir} are both exports named {model.name!r}; serve one of them.")
        models[model.name] = model

    @asynccontextmanager
    async def lifespan(app):
        yield
        for model in models.values():  # after uvicorn finished the requests in flight: let the queues drain
            await run_in_threadpool(model.worker.stop, 30.0)

    app = FastAPI(title="genkit serve", summary="Samples from genkit exports with onnxruntime", lifespan=lifespan)
    app.state.models, app.state.max_n = models, max_n
    _add_error_handlers(app)

    @app.middleware("http")
    async def limit_and_count(request: Request, call_next):
        # Before the multipart body is read: its Content-Length already says it is too big.
        size = request.headers.get("content-length", "")
        if request.method == "POST" and size.isdigit() and int(size) > max_upload_bytes + 2**16:  # + the form's own fields
            return _error(413, f"file: the request is {int(size):,} bytes; this server takes uploads of at most {max_upload_bytes:,} bytes.")
        parts = request.url.path.split("/")  # ["", "v1", "models", name, "sample"]
        if request.method == "POST" and len(parts) == 5 and parts[1:3] == ["v1", "models"] and parts[4] == "sample" and parts[3] in models:
            with models[parts[3]].worker.open_request():  # from before its body is read: the worker may wait for it
                return await call_next(request)
        return await call_next(request)

    def model_named(name: str) -> ServedModel:
        if name not in models:
            near = closest(name, list(models))
            hint = f" Did you mean {near[0]!r}?" if near else ""
            raise HTTPException(404, f"no model named {name!r}; this server has {', '.join(models)}.{hint} GET /v1/models lists them.")
        return models[name]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return PAGE

    @app.get("/health")
    async def health():
        return {"status": "ok", "models": list(models)}

    @app.get("/v1/models")
    async def list_models():
        return {"models": [m.describe() for m in models.values()], "limits": {"max_n": max_n, "max_upload_bytes": max_upload_bytes}}

    @app.get("/v1/stats")
    async def stats():
        return {name: {"queued": m.worker.queued, "running": m.worker.running, **vars(m.worker.stats)} for name, m in models.items()}

    @app.post("/v1/models/{name}/sample")
    async def sample(name: str, request: SampleRequest):
        model = model_named(name)
        x, y, seed = await _wait(model, model.sample_job(request, max_n=max_n))
        # Decoded latents keep their order in the grid (the page's latent map); drawn samples go in class rows.
        content = await run_in_threadpool(_encode_samples, model, x, None if request.z is not None and request.format == "png" else y, seed, request.format)
        return Response(content, media_type=_MEDIA[request.format], headers={"X-Seed": str(seed), "X-Model": model.name})

    @app.post("/v1/models/{name}/translate")
    async def translate(name: str, file: Annotated[UploadFile, File()], direction: Annotated[str | None, Form()] = None, format: Annotated[str, Form()] = "png"):
        model = model_named(name)
        _check_format(format)
        x = await _read_upload(model, file, max_upload_bytes, max_n)
        y = await _wait(model, model.translate_job(x, direction))
        content = await run_in_threadpool(_encode_translation, model, x, y, format)
        return Response(content, media_type=_MEDIA[format], headers={"X-Model": model.name})

    @app.post("/v1/models/{name}/score")
    async def score(name: str, file: Annotated[UploadFile, File()], metric: Annotated[str, Form()] = "mse", label: Annotated[int | None, Form()] = None):
        model = model_named(name)
        x = await _read_upload(model, file, max_upload_bytes, max_n)
        scores = await _wait(model, model.score_job(x, metric, label))
        return {"model": model.name, "metric": metric, "scores": [float(s) for s in scores]}

    return app


# --------------------------------------------------------------------------- helpers
async def _wait(model: ServedModel, job):
    """Queue the job on the model's worker (QueueFull -> 503) and wait for its result without blocking the loop."""
    return await asyncio.wrap_future(model.worker.submit(job))


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise GenkitError(f"format: got {format!r}; expected one of {', '.join(FORMATS)}.")


async def _read_upload(model: ServedModel, file: UploadFile, max_bytes: int, max_n: int) -> np.ndarray:
    """The uploaded images as float32 in the model's range: an .npz (array x), a PNG or a JPEG."""
    data = await file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"file: the upload is over {max_bytes:,} bytes, this server's limit.")
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in _UPLOAD_SUFFIXES:
        raise GenkitError(f"file: {file.filename!r} is not one of {', '.join(_UPLOAD_SUFFIXES)}; upload images as an .npz (array x) or a PNG/JPEG.")
    x = await run_in_threadpool(_read_images, data, suffix, model)
    if len(x) > max_n:
        raise GenkitError(f"file: holds {len(x):,} images; this server takes at most {max_n:,} a request (genkit serve --max-n).")
    return x


def _read_images(data: bytes, suffix: str, model: ServedModel) -> np.ndarray:
    s = model.sampler
    with tempfile.TemporaryDirectory(prefix="genkit-serve-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return read_images(path, s.image_shape, s.value_range, flag="file")
        except GenkitError as err:  # read_images names the file by its path: name the upload instead
            raise GenkitError(str(err).replace(str(path), path.name)) from None


def _encode_samples(model: ServedModel, x, y, seed: int, format: str) -> bytes:
    if format == "json":
        return json.dumps({"model": model.name, "seed": seed, "shape": list(x.shape), "x": x.tolist(), "y": None if y is None else y.tolist()}).encode()
    with tempfile.TemporaryDirectory(prefix="genkit-serve-") as folder:  # the runtime writes files; read its bytes back
        return save_samples(Path(folder) / f"samples.{format}", x, y, value_range=model.sampler.value_range).read_bytes()


def _encode_translation(model: ServedModel, x, y, format: str) -> bytes:
    if format == "json":
        return json.dumps({"model": model.name, "shape": list(y.shape), "x": y.tolist(), "source": x.tolist()}).encode()
    if format == "npz":  # what `genkit sample --input ... --out FILE.npz` writes
        buffer = io.BytesIO()
        np.savez(buffer, x=y, source=x)
        return buffer.getvalue()
    with tempfile.TemporaryDirectory(prefix="genkit-serve-") as folder:  # inputs above, their translations below
        path = save_grid(np.concatenate([x, y]), Path(folder) / "t.png", nrow=len(x), row_labels=["input", "output"], value_range=model.sampler.value_range)
        return path.read_bytes()


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GenkitError)
    async def bad_value(request, exc: GenkitError):
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_field(request, exc: RequestValidationError):
        return _error(422, describe_validation_errors(exc.errors()))

    @app.exception_handler(UploadTooLarge)
    async def too_large(request, exc: UploadTooLarge):
        return _error(413, str(exc))

    @app.exception_handler(QueueFull)
    async def busy(request, exc: QueueFull):
        return _error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def bug(request, exc: Exception):
        log.exception("genkit serve: %s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has the details.")
