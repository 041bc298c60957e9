"""`ModelWorker`: one thread per served model that micro-batches its requests into onnxruntime calls.

Requests wait in a bounded queue. The worker takes the oldest one, then for a short window
(`window_s`, 5 ms by default) gathers queued requests that can share its call (same `key`:
the same model settings) up to `max_batch` images, runs them as one job, and hands each
request its own rows back. It waits only while more requests may come: while the model has
more open HTTP requests (`open_request()`, counted by the app) than the batch and the queue
hold. So a lone client never pays the window; under load, requests still being read join. A full queue refuses at once (`QueueFull`, which the app answers
with 503 and Retry-After) instead of growing without limit. One worker per model, so a slow
diffusion export's queue never delays another model's requests.

Example:
    worker = ModelWorker("cvae", run_batch, max_batch=64, max_queue=32)
    future = worker.submit(Job(key=("sample",), n=16, payload=request))   # concurrent.futures.Future
    x, y = future.result()
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "ModelWorker", "QueueFull"]


class QueueFull(Exception):
    """The model's queue holds `max_queue` requests already; ask again after `retry_after_s`."""

    def __init__(self, model: str, size: int, retry_after_s: int):
        super().__init__(f"{model}'s queue is full ({size} requests waiting); retry in {retry_after_s} s.")
        self.retry_after_s = retry_after_s


@dataclass
class Job:
    """One request's work. Jobs with equal, non-None `key`s may run in one call; `n` is its image count."""

    key: Hashable | None
    n: int
    payload: Any
    future: Future = field(default_factory=Future)


@dataclass
class WorkerStats:
    """What the worker has done: batches run, requests and images served, the largest batch seen."""

    batches: int = 0
    requests: int = 0
    images: int = 0
    largest_batch: int = 0
    batch_sizes: dict = field(default_factory=dict)  # requests per batch -> how many batches

    def count(self, jobs) -> None:
        self.batches += 1
        self.requests += len(jobs)
        self.images += sum(j.n for j in jobs)
        self.largest_batch = max(self.largest_batch, len(jobs))
        self.batch_sizes[len(jobs)] = self.batch_sizes.get(len(jobs), 0) + 1


class ModelWorker:
    """A thread that runs `run_batch(jobs) -> [result per job]` on batches of queued jobs.

    Args:
        name: the model's name, for messages.
        run_batch: runs jobs sharing one key as one call; returns one result per job, in order.
            An exception fails every job of the batch with it.
        max_batch: images one call may hold (a single larger request still runs, alone).
        max_queue: requests waiting at most; one more raises `QueueFull`.
        window_s: how long the worker waits for more requests to join a batch.
    """

    def __init__(self, name: str, run_batch: Callable, *, max_batch: int = 64, max_queue: int = 64, window_s: float = 0.005):
        self.name, self._run_batch = name, run_batch
        self.max_batch, self.max_queue, self.window_s = max_batch, max_queue, window_s
        self.stats = WorkerStats()
        self.running = 0  # requests in the batch being run now
        self._open = 0  # the model's HTTP requests being answered: queued, running, or on their way
        self._queue: deque[Job] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._busy_s = 0.5  # the last batch's duration: the Retry-After estimate
        self._thread = threading.Thread(target=self._loop, name=f"genkit-serve-{name}", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @contextmanager
    def open_request(self):
        """Count an HTTP request for this model while the block runs (the app wraps each sample request)."""
        with self._ready:
            self._open += 1
        try:
            yield
        finally:
            with self._ready:
                self._open -= 1
                self._ready.notify()

    def submit(self, job: Job) -> Future:
        """Queue `job`; its future gets the result. Raises QueueFull when `max_queue` jobs wait."""
        with self._ready:
            if self._stopping:
                raise QueueFull(self.name, len(self._queue), 1)
            if len(self._queue) >= self.max_queue:
                # Retry-After: the time to drain the queue at the last batch's pace, at least 1 s.
                raise QueueFull(self.name, len(self._queue), max(1, round(self._busy_s * len(self._queue))))
            self._queue.append(job)
            self._ready.notify()
        return job.future

    def stop(self, timeout: float | None = None) -> None:
        """Finish the queued jobs, then end the thread."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join(timeout)

    # ------------------------------------------------------------------ the thread
    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            start, self.running = time.perf_counter(), len(batch)
            try:
                results = self._run_batch([job.payload for job in batch])
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting requests, which answer it
                for job in batch:
                    job.future.set_exception(exc)
            else:
                for job, result in zip(batch, results, strict=True):
                    job.future.set_result(result)
            self._busy_s, self.running = time.perf_counter() - start, 0
            self.stats.count(batch)

    def _next_batch(self) -> list[Job] | None:
        with self._ready:
            while not self._queue:
                if self._stopping:
                    return None
                self._ready.wait()
            first = self._queue.popleft()
            batch, images = [first], first.n
            if first.key is None:
                return batch
            deadline = time.monotonic() + self.window_s
            while images < self.max_batch:
                # Later jobs with the same key join, even past one with another key (FIFO otherwise).
                for job in list(self._queue):
                    if job.key == first.key and images + job.n <= self.max_batch:
                        self._queue.remove(job)
                        batch.append(job)
                        images += job.n
                left = deadline - time.monotonic()
                # Open requests neither in this batch nor queued are being read (or, done, being encoded:
                # a wait of at most the window for nothing, only under concurrency).
                coming = self._open - len(batch) - len(self._queue)
                if left <= 0 or images >= self.max_batch or self._stopping or coming <= 0:
                    break
                self._ready.wait(left)
            return batch
