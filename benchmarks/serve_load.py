"""`genkit serve` under load: 1, 8 and 64 concurrent clients against a CVAE and a DDPM export (DDIM-20),
with micro-batching on and off.

    python benchmarks/serve_load.py                                    # exports/cvae_mnist, exports/ddpm_mnist, 30 s a cell
    python benchmarks/serve_load.py --cvae exports/smoke/cvae --ddpm exports/smoke/ddpm --seconds 5

It starts two real `genkit serve` processes (uvicorn), one per mode (on: `--max-batch 64`; off:
`--max-batch 1`, every request its own onnxruntime call), and for each model and client count runs,
on one mode then the other (the order alternating from cell to cell),
closed-loop clients (each sends its next request when the last one is answered) for `--seconds`:
the CVAE request is `{"n": 16, "label": 3, "format": "png"}`, the DDPM one
`{"n": 4, "sampler": "ddim", "steps": 20, "format": "png"}`, each with its own seed. It prints one
Markdown row per cell: requests/s, images/s, p50 and p99 latency, errors (any non-200), the mean
requests per onnxruntime batch (from /v1/stats), and the server's peak RSS; then the throughput
ratio on/off per cell.

The clients run in this process (httpx, asyncio), so on a small machine they share the CPU with
the server: compare rows of one run. Queue limit: `--queue` (default 256) is above 64 clients, so
a 503 here is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from serve_exports import serving  # the tests' `genkit serve` process, started and awaited the same way

CLIENTS = (1, 8, 64)
MODES = {"on": 64, "off": 1}  # --max-batch
BODIES = {"cvae": {"n": 16, "label": 3, "format": "png"}, "ddpm": {"n": 4, "sampler": "ddim", "steps": 20, "format": "png"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cvae", default="exports/cvae_mnist", help="a CVAE export folder")
    parser.add_argument("--ddpm", default="exports/ddpm_mnist", help="a DDPM export folder")
    parser.add_argument("--seconds", type=float, default=30.0, help="load per cell (default 30)")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--queue", type=int, default=256)
    parser.add_argument("--window-ms", type=float, help="the batching window of the 'on' server (default: genkit serve's)")
    args = parser.parse_args()
    exports = {"cvae": args.cvae, "ddpm": args.ddpm}
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    print("| batching | model | clients | requests/s | images/s | p50 ms | p99 ms | errors | requests/batch | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    throughput = {}
    with contextlib.ExitStack() as stack:
        # Both servers up at once, each cell measured on one then the other (the order alternating),
        # so the machine's load reaches both modes alike; the idle server only waits.
        servers = {
            mode: stack.enter_context(
                serving(exports.values(), "--max-batch", str(max_batch), "--queue", str(args.queue), "--max-n", "64", *window(args, mode))
            )
            for mode, max_batch in MODES.items()
        }
        cell = 0
        for kind, body in BODIES.items():
            for clients in args.clients:
                for mode in list(MODES)[:: 1 if cell % 2 == 0 else -1]:
                    process, base = servers[mode]
                    name = httpx.get(f"{base}/health").json()["models"][list(BODIES).index(kind)]
                    before = httpx.get(f"{base}/v1/stats").json()[name]
                    row = asyncio.run(load(base, name, body, clients, args.seconds))
                    after = httpx.get(f"{base}/v1/stats").json()[name]
                    batches = after["batches"] - before["batches"]
                    per_batch = (after["requests"] - before["requests"]) / batches if batches else float("nan")
                    throughput[(kind, clients, mode)] = row["rps"]
                    print(f"| {mode} | {kind} | {clients} | {row['rps']:.1f} | {row['rps'] * body['n']:.0f} | {row['p50']:.0f} | {row['p99']:.0f} "
                          f"| {row['errors']} | {per_batch:.1f} | {peak_rss_mb(process.pid):.0f} |", flush=True)
                cell += 1
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\nthroughput with micro-batching / without (the two measured back to back):")
    for kind in BODIES:
        for clients in args.clients:
            on, off = throughput.get((kind, clients, "on")), throughput.get((kind, clients, "off"))
            if on and off:
                print(f"  {kind}, {clients} clients: {on / off:.2f}x")


def window(args, mode: str) -> list:
    return ["--window-ms", str(args.window_ms)] if args.window_ms is not None and mode == "on" else []


async def load(base: str, name: str, body: dict, clients: int, seconds: float) -> dict:
    """Closed-loop clients for `seconds`: requests/s, p50/p99 latency (ms) and the count of non-200 answers."""
    latencies, errors = [], 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(k: int, c: httpx.AsyncClient) -> None:
        nonlocal errors
        seed = k * 1_000_000
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                r = await c.post(f"{base}/v1/models/{name}/sample", json={**body, "seed": seed})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - start)
            errors += not ok
            seed += 1

    # No client timeout: with 64 closed-loop clients on a slow model a request waits for the 63 before
    # it (minutes on a CPU); an error here is an answer other than 200, not a client giving up.
    async with httpx.AsyncClient(timeout=None, limits=limits) as c:
        began = time.perf_counter()
        await asyncio.gather(*(client(k, c) for k in range(clients)))
        elapsed = time.perf_counter() - began
    ms = np.asarray(latencies) * 1000
    return {"rps": len(ms) / elapsed, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "errors": errors}


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
