"""`genkit serve`: exports over HTTP — FastAPI + uvicorn, onnxruntime only, micro-batched.

Like `genkit.runtime`, this package must never import TensorFlow or Keras (a contract in
pyproject.toml and a test check it): a server needs only onnxruntime, NumPy, Pillow, pydantic,
FastAPI and uvicorn.

    app.py          the endpoints and their error answers (`create_app`)
    model.py        one served export: what it accepts, its checks, its batched calls
    batcher.py      one worker thread per model: bounded queue, micro-batches, 503 when full
    stacked_rng.py  each request's own seed inside a batch
    requests.py     the sample request's JSON fields
    page.py         the web page at /
    cli.py          `genkit serve EXPORT ... --host --port --max-batch --queue --max-n`

Example:
    from fastapi.testclient import TestClient
    client = TestClient(create_app(["exports/cvae_mnist"]))
    png = client.post("/v1/models/cvae_mnist/sample", json={"n": 16, "label": 3, "seed": 0}).content
"""

__all__ = ["create_app"]


def __getattr__(name):
    # Lazy: `genkit --help` imports genkit.serve.cli for its flags; FastAPI loads only when serving.
    if name == "create_app":
        from genkit.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'genkit.serve' has no attribute {name!r}")
