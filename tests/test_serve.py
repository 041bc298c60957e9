"""`genkit serve`: endpoints and their status codes, determinism by seed, shapes and ranges per family,
micro-batching, the bounded queue, a TensorFlow-free process and graceful shutdown under uvicorn.

The exports are tiny ONNX graphs written with onnx.helper (tests/serve_exports.py): the module needs
no TensorFlow and runs in seconds.
"""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serve_exports import serving, write_all, write_ddpm

from genkit.cli import main
from genkit.runtime import Sampler
from genkit.serve import create_app
from genkit.serve.batcher import Job

REPO = Path(__file__).resolve().parents[1]
CVAE, VAE, DDPM, CYCLE = "tiny_cvae", "tiny_vae", "tiny_ddpm", "tiny_cycle"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("serve_exports"))


@pytest.fixture(scope="module")
def client(exports):
    with TestClient(create_app(list(exports.values()), max_n=64)) as c:
        yield c


def _npz(response) -> dict:
    assert response.status_code == 200, response.text
    with np.load(io.BytesIO(response.content)) as f:
        return {k: f[k] for k in f.files}


def _upload(x, name="x.npz") -> dict:
    buffer = io.BytesIO()
    np.savez(buffer, x=x)
    return {"file": (name, buffer.getvalue())}


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "Traceback" not in body["error"]
    return body["error"]


# --------------------------------------------------------------------------- listing
def test_health_lists_every_loaded_export(client):
    assert client.get("/health").json() == {"status": "ok", "models": [CVAE, VAE, DDPM, CYCLE]}


def test_models_say_what_each_export_accepts(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    cvae, vae, ddpm, cycle = models[CVAE], models[VAE], models[DDPM], models[CYCLE]
    assert cvae["family"] == "cvae" and cvae["data"] == {"shape": [8, 8, 1], "range": [0.0, 1.0], "num_classes": 3}
    assert cvae["endpoints"] == ["sample"] and cvae["sample"]["labels"] == [0, 1, 2] and cvae["sample"]["steps"] is None
    assert vae["endpoints"] == ["sample", "score"] and vae["latent_dim"] == 2 and vae["latent_box"] == [[-3.0, 3.0], [-3.0, 3.0]]
    assert ddpm["sample"]["steps"] == {"default": 5, "max": 50} and ddpm["sample"]["samplers"] == ["ancestral", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "euler", "heun"]
    assert ddpm["sample"]["z"] is False and ddpm["sample"]["labels"] is None
    assert cycle["endpoints"] == ["translate"] and cycle["translate"] == {"directions": ["ab", "ba"]} and cycle["sample"] is None


def test_the_page_is_served_at_the_root(client):
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "/v1/models" in response.text and 'id="grid"' in response.text


# --------------------------------------------------------------------------- sampling
def test_png_sample_is_a_grid_of_the_asked_class(client):
    response = client.post(f"/v1/models/{CVAE}/sample", json={"n": 16, "label": 2, "seed": 0})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-seed"] == "0"
    image = Image.open(io.BytesIO(response.content))
    assert image.width > 16 * 8 and image.height > 8  # one labelled row of 16 cells of 8x8 at scale 2


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_images(client):
    def draw(seed, format):
        return client.post(f"/v1/models/{CVAE}/sample", json={"n": 8, "seed": seed, "format": format}).content

    assert draw(3, "png") == draw(3, "png") and draw(3, "npz") == draw(3, "npz")
    assert draw(3, "png") != draw(4, "png")


def test_a_request_without_seed_returns_the_seed_that_reproduces_it(client):
    first = client.post(f"/v1/models/{VAE}/sample", json={"n": 4, "format": "npz"})
    again = client.post(f"/v1/models/{VAE}/sample", json={"n": 4, "format": "npz", "seed": int(first.headers["x-seed"])})
    assert first.content == again.content


def test_samples_are_what_the_runtime_draws_for_the_seed(client, exports):
    arrays = _npz(client.post(f"/v1/models/{CVAE}/sample", json={"n": 5, "label": 1, "seed": 9, "format": "npz"}))
    x, y = Sampler(exports["cvae"]).sample(5, labels=1, seed=9)
    np.testing.assert_array_equal(arrays["x"], x)
    np.testing.assert_array_equal(arrays["y"], y)


@pytest.mark.parametrize(
    ("model", "body", "low", "high", "labels"),
    [
        (CVAE, {"n": 6}, 0.0, 1.0, [0, 1, 2, 0, 1, 2]),  # labels in turn without label
        (VAE, {"n": 6}, 0.0, 1.0, None),
        (DDPM, {"n": 6, "steps": 3, "sampler": "ancestral"}, -1.0, 1.0, None),
        (DDPM, {"n": 6, "steps": 4, "sampler": "ddim", "eta": 0.5}, -1.0, 1.0, None),
    ],
)
def test_json_samples_have_the_export_shape_and_range(client, model, body, low, high, labels):
    response = client.post(f"/v1/models/{model}/sample", json={**body, "seed": 1, "format": "json"})
    assert response.status_code == 200, response.text
    result = response.json()
    x = np.asarray(result["x"])
    assert result["shape"] == [6, 8, 8, 1] and x.shape == (6, 8, 8, 1)
    assert low <= x.min() and x.max() <= high and x.std() > 0
    assert result["y"] == labels and result["seed"] == 1


def test_z_decodes_given_latents_and_n_defaults_to_their_count(client, exports):
    z = [[0.0, 0.0], [1.5, -2.0], [-3.0, 3.0]]
    arrays = _npz(client.post(f"/v1/models/{VAE}/sample", json={"z": z, "format": "npz"}))
    np.testing.assert_allclose(arrays["x"], Sampler(exports["vae"]).decode(np.asarray(z, np.float32)), atol=1e-6)


def test_decoded_latents_keep_their_order_in_a_square_png_grid(client):
    z = [[0.1 * k, 0.0, 0.0, 0.0] for k in range(16)]
    png = client.post(f"/v1/models/{CVAE}/sample", json={"z": z, "format": "png"})  # labels 0, 1, 2 in turn
    image = Image.open(io.BytesIO(png.content))
    assert png.status_code == 200 and image.width == image.height  # 4 x 4 in z's order, not rows by class


# --------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    ("model", "body", "status", "field"),
    [
        (CVAE, {"n": -1}, 422, "n"),
        (CVAE, {"n": 0}, 422, "n"),
        (CVAE, {"n": 10**9}, 422, "n is 1,000,000,000"),
        (CVAE, {"n": "3"}, 422, "n"),
        (CVAE, {"n": 2.5}, 422, "n"),
        (CVAE, {"label": 42}, 422, "label is 42"),
        (CVAE, {"label": -1}, 422, "label"),
        (CVAE, {"lable": 1}, 422, "Did you mean 'label'"),
        (CVAE, {"foo": 1}, 422, "foo: unknown field"),
        (CVAE, {"steps": 10}, 422, "steps:"),
        (CVAE, {"format": "gif"}, 422, "format"),
        (CVAE, {"seed": -5}, 422, "seed"),
        (CVAE, {"z": [[0.0, 1.0]]}, 422, "z must be"),
        (VAE, {"label": 1}, 422, "label:"),
        (VAE, {"z": [[0.0, 1.0]], "n": 2}, 422, "n is 2 but z holds 1"),
        (DDPM, {"steps": 51}, 422, "steps must be an integer in [1, 50]"),
        (DDPM, {"sampler": "ddpm"}, 422, "sampler must be one of ancestral, ddim"),
        (DDPM, {"sampler": "ancestral", "eta": 0.5}, 422, "eta applies to the ddim sampler"),
        (DDPM, {"z": [[0.0]]}, 422, "z:"),
        (DDPM, {"guidance_interval": [0, 10]}, 422, "is unconditional; guidance applies to class-conditional"),
        (DDPM, {"guidance_interval": [5]}, 422, "guidance_interval"),
        (CYCLE, {"n": 2}, 422, "does not draw samples"),
        ("nope", {}, 404, "no model named 'nope'"),
        ("tiny_cvea", {}, 404, "Did you mean 'tiny_cvae'"),
    ],
)
def test_bad_sample_requests_get_a_4xx_naming_the_field(client, model, body, status, field):
    assert field in _error(client.post(f"/v1/models/{model}/sample", json=body), status)


def test_a_body_that_is_not_a_json_object_is_a_422(client):
    assert "body" in _error(client.post(f"/v1/models/{CVAE}/sample", content=b"[1, 2]", headers={"content-type": "application/json"}), 422)
    assert "body" in _error(client.post(f"/v1/models/{CVAE}/sample", content=b"{not json", headers={"content-type": "application/json"}), 422)


def test_unknown_paths_and_methods_answer_json_errors(client):
    assert _error(client.get("/v2/nothing"), 404)
    assert _error(client.get(f"/v1/models/{CVAE}/sample"), 405)


# --------------------------------------------------------------------------- uploads
def test_translate_runs_the_chosen_direction(client):
    x = np.linspace(-1, 1, 2 * 64, dtype=np.float32).reshape(2, 8, 8, 1)
    ab = _npz(client.post(f"/v1/models/{CYCLE}/translate", files=_upload(x), data={"format": "npz"}))
    ba = _npz(client.post(f"/v1/models/{CYCLE}/translate", files=_upload(x), data={"direction": "ba", "format": "npz"}))
    np.testing.assert_allclose(ab["x"], x, atol=1e-6)
    np.testing.assert_allclose(ba["x"], -x, atol=1e-6)
    np.testing.assert_allclose(ab["source"], x, atol=1e-6)


def test_translate_reads_a_png_upload_and_answers_a_png(client):
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(buffer, format="PNG")
    response = client.post(f"/v1/models/{CYCLE}/translate", files={"file": ("white.png", buffer.getvalue())}, data={"format": "json"})
    assert response.status_code == 200, response.text
    assert np.allclose(response.json()["x"], 1.0)
    response = client.post(f"/v1/models/{CYCLE}/translate", files={"file": ("white.png", buffer.getvalue())})
    assert response.headers["content-type"] == "image/png" and Image.open(io.BytesIO(response.content)).height > 16


def test_score_gives_one_anomaly_score_per_uploaded_image(client):
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    response = client.post(f"/v1/models/{VAE}/score", files=_upload(x))
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    assert len(scores) == 5 and all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) == 5
    bce = client.post(f"/v1/models/{VAE}/score", files=_upload(x), data={"metric": "bce"}).json()["scores"]
    assert bce != scores


@pytest.mark.parametrize(
    ("model", "endpoint", "files", "data", "field"),
    [
        (CYCLE, "translate", _upload(np.zeros((2, 8, 8, 1), np.uint8)), {"direction": "ca"}, "direction:"),
        (CYCLE, "translate", _upload(np.zeros((2, 8, 8, 1), np.uint8)), {"format": "gif"}, "format:"),
        (CYCLE, "translate", _upload(np.zeros((2, 8, 8, 3), np.uint8)), {}, "file"),
        (CYCLE, "translate", _upload(np.zeros((2, 8, 8, 1), np.uint16)), {}, "file"),
        (CYCLE, "translate", _upload(np.zeros((65, 8, 8, 1), np.uint8)), {}, "file: holds 65 images"),
        (CYCLE, "translate", {"file": ("x.gif", b"GIF89a")}, {}, "file: 'x.gif'"),
        (CYCLE, "translate", {"file": ("x.png", b"not a png")}, {}, "file"),
        (CYCLE, "translate", {}, {}, "file: Field required"),
        (CVAE, "translate", _upload(np.zeros((2, 8, 8, 1), np.uint8)), {}, "translate applies to translation exports"),
        (VAE, "score", _upload(np.zeros((2, 8, 8, 1), np.uint8)), {"metric": "mae"}, "metric:"),
        (DDPM, "score", _upload(np.zeros((2, 8, 8, 1), np.uint8)), {}, "score needs an export with an encoder and a decoder"),
    ],
)
def test_bad_uploads_get_a_422_naming_the_field(client, model, endpoint, files, data, field):
    assert field in _error(client.post(f"/v1/models/{model}/{endpoint}", files=files, data=data), 422)


def test_an_upload_over_the_size_limit_is_a_413(exports):
    with TestClient(create_app([exports["cycle"]], max_upload_bytes=4096)) as small:
        big = _upload(np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1), dtype=np.uint8))  # 4 kB of pixels + headers
        assert "file" in _error(small.post(f"/v1/models/{CYCLE}/translate", files=big), 413)
        huge = {"file": ("x.npz", b"\0" * 200_000)}  # refused from Content-Length, before the form is read
        assert "the request is 200," in _error(small.post(f"/v1/models/{CYCLE}/translate", files=huge), 413)


# --------------------------------------------------------------------------- under load
async def _concurrently(app, requests):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://serve") as c:
        return await asyncio.gather(*(c.post(path, json=body) for path, body in requests))


def test_concurrent_requests_share_calls_and_keep_their_seeds(exports):
    app = create_app([exports["cvae"], exports["ddpm"]], window_s=0.3)
    requests = [(f"/v1/models/{CVAE}/sample", {"n": 1 + k % 3, "seed": k, "format": "npz"}) for k in range(8)]
    requests += [(f"/v1/models/{DDPM}/sample", {"n": 2, "seed": k, "steps": 3, "format": "npz"}) for k in range(4)]
    responses = asyncio.run(_concurrently(app, requests))
    stats = TestClient(app).get("/v1/stats").json()
    assert stats[CVAE]["requests"] == 8 and stats[CVAE]["batches"] < 8 and stats[CVAE]["largest_batch"] > 1
    assert stats[DDPM]["requests"] == 4 and stats[DDPM]["batches"] < 4
    with TestClient(create_app([exports["cvae"], exports["ddpm"]], max_batch=1)) as alone:  # micro-batching off
        for (path, body), batched in zip(requests, responses, strict=True):
            single = alone.post(path, json=body)
            np.testing.assert_array_equal(_npz(batched)["x"], _npz(single)["x"])
        assert alone.get("/v1/stats").json()[CVAE]["largest_batch"] == 1
    for app_model in app.state.models.values():
        app_model.worker.stop()


def test_a_lone_request_does_not_wait_for_the_batching_window(exports):
    with TestClient(create_app([exports["cvae"]], window_s=5.0)) as c:
        start = time.perf_counter()
        assert c.post(f"/v1/models/{CVAE}/sample", json={"n": 2, "seed": 0}).status_code == 200
        assert time.perf_counter() - start < 2.5  # nobody else is on the way: no 5 s wait


def _hold(worker) -> threading.Event:
    """Occupy `worker` with a job that waits for the returned event."""
    release, started = threading.Event(), threading.Event()
    worker.submit(Job(key=None, n=1, payload=lambda: (started.set(), release.wait(10))))
    assert started.wait(5)
    return release


def test_a_full_queue_answers_503_with_retry_after_and_other_models_still_answer(exports):
    app = create_app([exports["cvae"], exports["ddpm"]], max_queue=1)
    release = _hold(app.state.models[DDPM].worker)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as c:
            waiting = asyncio.create_task(c.post(f"/v1/models/{DDPM}/sample", json={"n": 1, "seed": 0}))
            while app.state.models[DDPM].worker.queued < 1:
                await asyncio.sleep(0.01)
            refused = await c.post(f"/v1/models/{DDPM}/sample", json={"n": 1, "seed": 1})
            other = await c.post(f"/v1/models/{CVAE}/sample", json={"n": 1, "seed": 1})  # its own worker: not blocked
            release.set()
            return refused, other, await waiting

    refused, other, waited = asyncio.run(scenario())
    assert "queue is full" in _error(refused, 503) and int(refused.headers["retry-after"]) >= 1
    assert other.status_code == 200 and waited.status_code == 200
    for model in app.state.models.values():
        model.worker.stop()


# --------------------------------------------------------------------------- the process
def test_the_server_process_never_imports_tensorflow(exports):
    code = textwrap.dedent(f"""
        import sys
        from fastapi.testclient import TestClient
        from genkit.cli.parser import build_parser
        from genkit.serve import create_app
        build_parser().parse_args(["serve", {str(exports["cvae"])!r}])
        with TestClient(create_app({[str(p) for p in exports.values()]!r})) as c:
            assert c.post("/v1/models/{CVAE}/sample", json={{"n": 4}}).status_code == 200
            assert c.post("/v1/models/{DDPM}/sample", json={{"n": 2}}).status_code == 200
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx")))
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "/no/such/export"], "/no/such/export is not a folder"),
        (["serve", str(REPO / "specs")], "is not a genkit export"),
        (["serve", "EXPORT", "--port", "70000"], "--port must be a port"),
        (["serve", "EXPORT", "--max-batch", "0"], "--max-batch must be a positive integer"),
        (["serve", "EXPORT", "EXPORT"], "are both exports named 'tiny_cvae'"),
    ],
)
def test_bad_serve_arguments_exit_2_with_a_message(exports, capsys, argv, message):
    argv = [str(exports["cvae"]) if a == "EXPORT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    slow = write_ddpm(tmp_path / "slow", "slow", timesteps=1000, shape=[32, 32, 3])  # 1000 steps of 8 images: ~2 s
    with serving([slow]) as (server, base):
        result = {}
        body = {"n": 8, "seed": 0, "steps": 1000, "sampler": "ancestral", "format": "json"}
        request = threading.Thread(target=lambda: result.update(r=httpx.post(f"{base}/v1/models/slow/sample", json=body, timeout=60)))
        request.start()
        while httpx.get(f"{base}/v1/stats", timeout=5).json()["slow"]["running"] == 0:
            time.sleep(0.02)
        server.send_signal(signal.SIGTERM)
        request.join(60)
        assert result["r"].status_code == 200 and result["r"].json()["shape"] == [8, 32, 32, 3]
        # uvicorn finishes the request, shuts the app down, then re-raises SIGTERM to end as the signal asks
        assert server.wait(30) in (0, -signal.SIGTERM)
        assert "Traceback" not in server.stderr.read()
