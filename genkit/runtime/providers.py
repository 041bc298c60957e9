"""Open an onnxruntime session on the best device that actually works, quietly.

`onnxruntime-gpu` lists `CUDAExecutionProvider` as available even on machines without CUDA
libraries; a session asked for CUDA then falls back to CPU and logs library load errors. So
the provider list is only a hint: we try CUDA with the logger silenced and read
`session.get_providers()[0]` for the device really used. The first failure is remembered
for the process, so later sessions go straight to CPU.

`GENKIT_PROVIDER=cpu|cuda` forces a choice; forcing CUDA where it cannot load is an error
(with onnxruntime's own messages left visible to explain why).

Threads: onnxruntime's default (one intra-op thread per core, spinning between operators) is
fastest on an idle machine, and the slowest choice on a busy one: a spinning or descheduled
worker stalls every parallel operator. Measured on a shared 2-core machine with a 1-minute
load of 3-4 (`benchmarks/diffusion.py`, issue 18), one thread sampled the diffusion export
2-2.4x faster than the default, while at load 1.6 the default was 1.7x faster at batch 32.
So a session gets one thread when the load average already fills the cores, else the
default; `GENKIT_ORT_THREADS=N` sets the count (0: onnxruntime's default).
"""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from genkit.errors import GenkitError

__all__ = ["CPU", "CUDA", "ORT_ERRORS", "PROVIDER_ENV", "THREADS_ENV", "intra_op_threads", "make_session"]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_ENV = "GENKIT_PROVIDER"
THREADS_ENV = "GENKIT_ORT_THREADS"
_CHOICES = {"cpu": CPU, "cuda": CUDA}

# onnxruntime severities: 0 verbose, 1 info, 2 warning (its default), 3 error, 4 fatal.
# The CUDA library load failure is logged at *error* level, so 3 is not enough: measured
# with onnxruntime-gpu 1.31, only 4 keeps stderr clean.
_DEFAULT_SEVERITY = 2
_QUIET_SEVERITY = 4

# What InferenceSession raises for a file it cannot use (none subclass a builtin error): an
# empty file is InvalidArgument, a truncated or non-ONNX one InvalidProtobuf, an unknown
# operator NotImplemented, ... Named by string, as the set differs between releases.
_LOAD_ERRORS = tuple(
    getattr(ort_state, name)
    for name in (
        "Fail",
        "InvalidArgument",
        "NoSuchFile",
        "NoModel",
        "EngineError",
        "RuntimeException",
        "InvalidProtobuf",
        "ModelLoaded",
        "NotImplemented",
        "InvalidGraph",
        "EPFail",
        "ModelLoadCanceled",
        "ModelRequiresCompilation",
        "NotFound",
    )
    if isinstance(getattr(ort_state, name, None), type)
)

ORT_ERRORS = _LOAD_ERRORS  # also what InferenceSession.run raises for inputs a graph refuses

_cuda_works: bool | None = None  # None: not tried yet in this process


def make_session(path: str | Path, *, provider: str | None = None) -> tuple[ort.InferenceSession, str]:
    """Return `(session, provider_used)` for the ONNX file at `path`.

    Args:
        path: the `.onnx` file.
        provider: "cpu" or "cuda" to force a device; default: `$GENKIT_PROVIDER`, else
            CUDA when it really loads, else CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise GenkitError(f"ONNX file {path} does not exist; re-run `genkit export`.")
    if path.stat().st_size == 0:
        raise GenkitError(f"onnxruntime could not load {path}: the file is empty (0 bytes). Re-run `genkit export`.")
    choice = _requested(provider)
    if choice == "cpu":
        return _open(path, [CPU]), CPU
    available = ort.get_available_providers()
    if choice == "cuda":
        if CUDA not in available:
            raise GenkitError(
                f"{PROVIDER_ENV}=cuda, but this onnxruntime has no CUDA support "
                f"(available: {', '.join(available)}). Install onnxruntime-gpu or use cpu."
            )
        session = _open(path, [CUDA, CPU])
        if session.get_providers()[0] != CUDA:
            raise GenkitError(
                f"{PROVIDER_ENV}=cuda, but CUDA could not be initialised (onnxruntime's "
                "messages above say which library is missing). Unset it or set it to cpu."
            )
        return session, CUDA
    return _auto(path, available)


def _auto(path: Path, available: list[str]) -> tuple[ort.InferenceSession, str]:
    global _cuda_works
    if CUDA not in available or _cuda_works is False:
        return _open(path, [CPU]), CPU
    ort.set_default_logger_severity(_QUIET_SEVERITY)  # library load errors go to this logger
    try:
        session = _open(path, [CUDA, CPU], severity=_QUIET_SEVERITY)
    finally:
        ort.set_default_logger_severity(_DEFAULT_SEVERITY)
    used = session.get_providers()[0]
    _cuda_works = used == CUDA
    return session, used  # on fallback this is already a working CPU session


def intra_op_threads() -> int:
    """Intra-op threads for a new session: `$GENKIT_ORT_THREADS`, else 1 on a busy machine, else 0 (default)."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit():
            raise GenkitError(
                f"{THREADS_ENV}={value} is not a thread count; expected an integer >= 0 "
                "(0: onnxruntime's default, one per core). Unset it to let genkit choose."
            )
        return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0] >= cores
    except OSError:  # no load average on this platform
        busy = False
    return 1 if busy else 0


def _requested(provider: str | None) -> str | None:
    value = provider if provider is not None else os.environ.get(PROVIDER_ENV, "")
    value = value.strip().lower()
    if not value:
        return None
    if value not in _CHOICES:
        source = f"{PROVIDER_ENV}={value}" if provider is None else f"provider={value!r}"
        raise GenkitError(f"{source} is not a device genkit knows; expected cpu or cuda.")
    return value


def _open(path: Path, providers: list[str], severity: int | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # Measured on genkit's exports (benchmarks/diffusion.py, sample_speed.py; issue 18): every graph
    # optimisation at load (the NCHWc layout and contrib-op fusions) and sequential execution were
    # fastest. The optimised graph is not saved at export: it is tied to this CPU and its contrib
    # ops, and would save ~20 ms of start-up only.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads()
    if severity is not None:
        options.log_severity_level = severity
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except _LOAD_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GenkitError(
            f"onnxruntime could not load {path}: {reason[:300]}. The file is damaged or not an ONNX model; "
            "re-run `genkit export`."
        ) from None
    except OSError as exc:
        raise GenkitError(f"cannot read ONNX file {path}: {exc.strerror or exc}.") from None
