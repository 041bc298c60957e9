"""Tiny exports for the `genkit serve` tests, written directly with onnx.helper (no TensorFlow, milliseconds).

    cvae:   z (4) and a label (3 classes) -> 8x8x1 images in [0, 1]: sigmoid(z W + E[y])
    vae:    a 2-D latent: decoder z (2) -> 8x8x1 in [0, 1], encoder x -> z_mean, z_log_var
            (so it scores anomalies and shows a latent map)
    ddpm:   a zero denoiser on 8x8x1 images in [-1, 1], 50 timesteps (`timesteps`, `shape` to change)
    cycle:  cyclegan-like on 8x8x1 in [-1, 1]: ab is the identity, ba the negation

`serving(exports, *flags)` runs a real `genkit serve` process (uvicorn) for a `with` block.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

SHAPE = [8, 8, 1]
PIXELS = 64


def _model(nodes, inputs, outputs, initializers=()) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _value(name, dims, dtype=None):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, dtype or TensorProto.FLOAT, ["batch", *dims])


def _tensor(name, array):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def _io(name, dims, dtype="float32"):
    return {"name": name, "shape": [None, *dims], "dtype": dtype}


def _decoder(latent: int, conditional: bool, classes: int = 3) -> bytes:
    """sigmoid(z W (+ E[y])) reshaped to 8x8x1."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["z", "W"], ["h"])]
    inits = [_tensor("W", rng.standard_normal((latent, PIXELS)).astype(np.float32)), _tensor("shape", np.array([-1, *SHAPE], np.int64))]
    inputs = [_value("z", [latent])]
    if conditional:
        nodes += [helper.make_node("Gather", ["E", "y"], ["e"], axis=0), helper.make_node("Add", ["h", "e"], ["h2"])]
        inits.append(_tensor("E", 2.0 * rng.standard_normal((classes, PIXELS)).astype(np.float32)))
        inputs.append(helper.make_tensor_value_info("y", TensorProto.INT32, ["batch"]))
    nodes += [helper.make_node("Sigmoid", ["h2" if conditional else "h"], ["s"]), helper.make_node("Reshape", ["s", "shape"], ["x"])]
    return _model(nodes, inputs, [_value("x", SHAPE)], inits)


def _encoder(latent: int) -> bytes:
    from onnx import helper

    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["z_mean"]),
        helper.make_node("Mul", ["z_mean", "zero"], ["z_log_var"]),
    ]
    inits = [_tensor("flat", np.array([-1, PIXELS], np.int64)), _tensor("W", 0.1 * rng.standard_normal((PIXELS, latent)).astype(np.float32)),
             _tensor("zero", np.float32(0.0))]
    return _model(nodes, [_value("x", SHAPE)], [_value("z_mean", [latent]), _value("z_log_var", [latent])], inits)


def _manifest(name: str, family: str, **sections) -> dict:
    return {"format": 1, "name": name, "family": family, "latent_dim": None, "prior": None, "sampling": None, "encoding": None, **sections}


def write_cvae(folder: Path, name: str = "tiny_cvae") -> Path:
    folder.mkdir(parents=True)
    (folder / "decoder.onnx").write_bytes(_decoder(4, conditional=True))
    manifest = _manifest(
        name, "cvae", data={"shape": SHAPE, "range": [0.0, 1.0], "num_classes": 3}, latent_dim=4, prior={"kind": "standard_normal"},
        sampling={"network": "decoder", "latent_input": "z", "label_input": "y", "output": "x"},
        networks={"decoder": {"file": "decoder.onnx", "inputs": [_io("z", [4]), {"name": "y", "shape": [None], "dtype": "int32"}], "outputs": [_io("x", SHAPE)]}},
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_vae(folder: Path, name: str = "tiny_vae") -> Path:
    folder.mkdir(parents=True)
    (folder / "decoder.onnx").write_bytes(_decoder(2, conditional=False))
    (folder / "encoder.onnx").write_bytes(_encoder(2))
    manifest = _manifest(
        name, "vae", data={"shape": SHAPE, "range": [0.0, 1.0], "num_classes": None}, latent_dim=2, prior={"kind": "standard_normal"},
        sampling={"network": "decoder", "latent_input": "z", "label_input": None, "output": "x"},
        encoding={"network": "encoder", "image_input": "x", "label_input": None, "outputs": ["z_mean", "z_log_var"]},
        networks={
            "decoder": {"file": "decoder.onnx", "inputs": [_io("z", [2])], "outputs": [_io("x", SHAPE)]},
            "encoder": {"file": "encoder.onnx", "inputs": [_io("x", SHAPE)], "outputs": [_io("z_mean", [2]), _io("z_log_var", [2])]},
        },
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_ddpm(folder: Path, name: str = "tiny_ddpm", *, timesteps: int = 50, shape=SHAPE) -> Path:
    from onnx import TensorProto, helper

    folder.mkdir(parents=True)
    t = helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch"])
    denoiser = _model([helper.make_node("Mul", ["x", "zero"], ["epsilon"])], [_value("x", shape), t], [_value("epsilon", shape)], [_tensor("zero", np.float32(0.0))])
    (folder / "denoiser.onnx").write_bytes(denoiser)
    manifest = _manifest(
        name, "ddpm", data={"shape": list(shape), "range": [-1.0, 1.0], "num_classes": None},
        sampling={"network": "denoiser", "image_input": "x", "time_input": "t", "label_input": None, "output": "epsilon"},
        diffusion={
            "schedule": "linear", "timesteps": timesteps, "beta_start": 1e-4, "beta_end": 0.02, "prediction": "epsilon",
            "null_class": None, "label_dropout": None,
            "sample": {"sampler": "ddim", "steps": 5, "eta": 0.0, "variance": "beta", "clip_denoised": True, "guidance_scale": 1.0},
        },
        networks={"denoiser": {"file": "denoiser.onnx", "inputs": [_io("x", shape), {"name": "t", "shape": [None], "dtype": "float32"}], "outputs": [_io("epsilon", shape)]}},
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_cycle(folder: Path, name: str = "tiny_cycle") -> Path:
    from onnx import helper

    folder.mkdir(parents=True)
    (folder / "ab.onnx").write_bytes(_model([helper.make_node("Identity", ["x"], ["y"])], [_value("x", SHAPE)], [_value("y", SHAPE)]))
    (folder / "ba.onnx").write_bytes(_model([helper.make_node("Neg", ["x"], ["y"])], [_value("x", SHAPE)], [_value("y", SHAPE)]))
    manifest = _manifest(
        name, "cyclegan", data={"shape": SHAPE, "range": [-1.0, 1.0], "num_classes": None},
        translation={"ab": {"network": "generator_ab", "input": "x", "output": "y"}, "ba": {"network": "generator_ba", "input": "x", "output": "y"}},
        networks={n: {"file": f"{d}.onnx", "inputs": [_io("x", SHAPE)], "outputs": [_io("y", SHAPE)]} for n, d in (("generator_ab", "ab"), ("generator_ba", "ba"))},
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_all(root: Path) -> dict[str, Path]:
    """The four exports under `root`, by family."""
    return {"cvae": write_cvae(root / "cvae"), "vae": write_vae(root / "vae"), "ddpm": write_ddpm(root / "ddpm"), "cycle": write_cycle(root / "cycle")}


@contextmanager
def serving(exports, *flags):
    """`genkit serve EXPORTS FLAGS` on a free port, answering /health: yields (process, base URL); killed after."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "genkit.cli", "serve", *map(str, exports), "--port", str(port), *flags]
    process = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"genkit serve did not start: {process.stderr.read()[-2000:] if process.poll() is not None else 'timed out'}") from None
                time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
