"""`genkit serve EXPORT [EXPORT ...]`: its flags and the command, which runs uvicorn in this process."""

from __future__ import annotations

from pathlib import Path

from genkit.errors import GenkitError

__all__ = ["add_serve_parser", "cmd_serve"]

# The flags' defaults, written once here; `create_app` takes them as arguments.
DEFAULTS = {"host": "127.0.0.1", "port": 8000, "max_batch": 64, "queue": 64, "max_n": 256, "window_ms": 5.0}


def add_serve_parser(sub) -> None:
    """Add `serve` to the `genkit` sub-command parsers."""
    p = sub.add_parser("serve", help="serve exports over HTTP (FastAPI + uvicorn, onnxruntime only) with a web page at /")
    p.add_argument("exports", nargs="+", metavar="EXPORT", help="export folders; each is served under its manifest's name")
    p.add_argument("--host", default=DEFAULTS["host"], help=f"address to listen on (default {DEFAULTS['host']}; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=DEFAULTS["port"], help=f"port (default {DEFAULTS['port']})")
    p.add_argument("--max-batch", type=int, default=DEFAULTS["max_batch"], metavar="IMAGES",
                   help=f"images one batched onnxruntime call may hold (default {DEFAULTS['max_batch']}; 1 turns micro-batching off)")
    p.add_argument("--queue", type=int, default=DEFAULTS["queue"], metavar="REQUESTS",
                   help=f"requests waiting per model before the server answers 503 (default {DEFAULTS['queue']})")
    p.add_argument("--max-n", type=int, default=DEFAULTS["max_n"], metavar="IMAGES",
                   help=f"images one request may ask for or upload (default {DEFAULTS['max_n']})")
    p.add_argument("--window-ms", type=float, default=DEFAULTS["window_ms"], metavar="MS",
                   help=f"how long a model waits for more requests to join a batch (default {DEFAULTS['window_ms']:g} ms)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> None:
    for flag in ("port", "max_batch", "queue", "max_n"):
        value = getattr(args, flag)
        if value < (0 if flag == "port" else 1) or (flag == "port" and value > 65535):
            raise GenkitError(f"--{flag.replace('_', '-')} must be {'a port, 0..65535' if flag == 'port' else 'a positive integer'}; got {value}.")
    if not 0 <= args.window_ms <= 1000:
        raise GenkitError(f"--window-ms must lie in [0, 1000]; got {args.window_ms:g}.")
    for folder in args.exports:
        if not Path(folder).is_dir():
            raise GenkitError(f"{folder} is not a folder; give export folders (made by `genkit export` or `genkit run`), e.g. exports/cvae_mnist.")
    import uvicorn

    from genkit.serve.app import create_app

    app = create_app(args.exports, max_batch=args.max_batch, max_queue=args.queue, max_n=args.max_n, window_s=args.window_ms / 1000)
    names = ", ".join(app.state.models)
    print(f"Serving {names} on http://{args.host}:{args.port}/ (onnxruntime on {next(iter(app.state.models.values())).sampler.provider}); Ctrl-C stops.", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
