"""Property: whatever a person does to an export or to `genkit sample`'s inputs, the runtime
answers with exit 0 or 2 — never a traceback, never an allocation beyond its budgets.

Three real exports are made once for the module: a tiny CVAE trained for one epoch through
`genkit run` (ONNX from tf2onnx, as users get them), and a translation (identity generator)
and a diffusion export (a zero denoiser) written directly with `onnx.helper`, which keeps the
module fast. Hypothesis then mutates

- manifest.json: delete, retype or replace any value at any depth (lists for mappings, huge
  and negative numbers, NaN, strings), or the whole file;
- the ONNX files: truncate, empty, random bytes, another file's bytes, swap two networks;
- the input images of a translation: every dtype, value range, shape and empty arrays,
  zero-byte and non-zip .npz files, PNGs whose header claims a huge size;
- the CLI flags: --n, --steps, explore's --rows/--steps/--n and --out paths (a folder, under
  a file, a wrong suffix).

Each case runs `genkit.cli.main([...])` in-process; any exception escaping it fails the test
(that is a traceback for the user). One subprocess runs the budget cases under RLIMIT_AS.
Examples are derandomized and capped, so the file runs in about a minute.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genkit.cli import main
from tiny import tiny_spec

REPO = Path(__file__).resolve().parents[1]
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --------------------------------------------------------------------------- the exports
def _onnx_model(nodes, inputs, outputs, initializers=()):
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _io(name, dims, dtype="float32"):
    return {"name": name, "shape": [None, *dims], "dtype": dtype}


def _write_translation(folder: Path) -> None:
    """pix2pix-like: an identity generator x -> y on 28x28x1 images in [-1, 1]."""
    from onnx import TensorProto, helper

    folder.mkdir()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 28, 28, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 28, 28, 1])
    (folder / "generator.onnx").write_bytes(_onnx_model([helper.make_node("Identity", ["x"], ["y"])], [x], [y]))
    manifest = {
        "format": 1, "name": "identity", "family": "pix2pix",
        "data": {"shape": [28, 28, 1], "range": [-1.0, 1.0], "num_classes": None},
        "latent_dim": None, "prior": None, "sampling": None, "encoding": None,
        "translation": {"ab": {"network": "generator", "input": "x", "output": "y"}},
        "networks": {"generator": {"file": "generator.onnx", "inputs": [_io("x", [28, 28, 1])], "outputs": [_io("y", [28, 28, 1])]}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _write_diffusion(folder: Path) -> None:
    """ddpm-like: a denoiser predicting zero noise, 50 timesteps, 8x8x1 images in [-1, 1]."""
    from onnx import TensorProto, helper

    folder.mkdir()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8, 8, 1])
    t = helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch"])
    eps = helper.make_tensor_value_info("epsilon", TensorProto.FLOAT, ["batch", 8, 8, 1])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    (folder / "denoiser.onnx").write_bytes(_onnx_model([helper.make_node("Mul", ["x", "zero"], ["epsilon"])], [x, t], [eps], [zero]))
    manifest = {
        "format": 1, "name": "zero_ddpm", "family": "ddpm",
        "data": {"shape": [8, 8, 1], "range": [-1.0, 1.0], "num_classes": None},
        "latent_dim": None, "prior": None, "encoding": None,
        "sampling": {"network": "denoiser", "image_input": "x", "time_input": "t", "label_input": None, "output": "epsilon"},
        "diffusion": {
            "schedule": "linear", "timesteps": 50, "beta_start": 1e-4, "beta_end": 0.02, "prediction": "epsilon",
            "null_class": None, "label_dropout": None, "ema": False,
            "sample": {"sampler": "ddim", "steps": 5, "eta": 0.0, "variance": "beta", "clip_denoised": True, "guidance_scale": 1.0},
        },
        "networks": {
            "denoiser": {
                "file": "denoiser.onnx",
                "inputs": [_io("x", [8, 8, 1]), {"name": "t", "shape": [None], "dtype": "float32"}],
                "outputs": [_io("epsilon", [8, 8, 1])],
            }
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime_properties")
    spec = root / "cvae.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec("cvae", name="prop_cvae")))
    cwd = os.getcwd()
    os.chdir(root)  # runs/ lands here
    try:
        assert main(["run", str(spec), "--out", str(root / "cvae")]) == 0
    finally:
        os.chdir(cwd)
    _write_translation(root / "translate")
    _write_diffusion(root / "ddpm")
    for name in ("translate", "ddpm"):
        assert run_cli(["sample", str(root / name), "--n", "2", "--out", str(root / f"{name}.npz")]
                       + (["--input", str(_npz(root / "in.npz", x=np.zeros((2, 28, 28, 1), np.uint8)))] if name == "translate" else [])) == 0
    return root


def run_cli(argv) -> int:
    """`genkit ARGV` in-process: its exit code (argparse's SystemExit included); any other exception fails."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    assert code in (0, 2), (argv, code, err.getvalue())
    if code == 2:
        assert "Traceback" not in err.getvalue() and err.getvalue().strip(), err.getvalue()
    sys.stderr.write(err.getvalue())  # for capsys
    return code


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@contextlib.contextmanager
def copy_of(export: Path):
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / export.name
        shutil.copytree(export, target)
        yield target


# --------------------------------------------------------------------------- manifest.json
WEIRD = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1, 2, 3, 1e9, 10**9, 10**18, -(10**9), 1.5, math.nan, math.inf, -math.inf,
                     "", "x", "../x.onnx", "/etc/passwd", "string", "float33", "a" * 300, [], {}, [None], ["a", "b"],
                     [1, 2], [28, 28, 1], [10**6, 10**6, 3], [0, 1], [1, 0], [-1, 1], {"kind": "gaussian"}]),
    st.integers(-5, 10**12),
    st.text(max_size=8),
    st.lists(st.integers(-2, 40), max_size=5),
)


def all_paths(node, prefix=()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        if key == "spec":  # the resolved training spec: the runtime never reads it
            continue
        yield prefix + (key,)
        yield from all_paths(value, prefix + (key,))


def mutate(manifest, path, action, value):
    *parents, last = path
    node = manifest
    for part in parents:
        node = node[part]
    if action == "delete":
        del node[last]
    elif action == "list_of_values" and isinstance(node[last], dict):
        node[last] = list(node[last].values())
    else:
        node[last] = value


@SETTINGS
@given(data=st.data())
def test_any_edit_of_manifest_json_ends_in_exit_0_or_2(exports, data):
    source = json.loads((exports / "cvae" / "manifest.json").read_text())
    paths = sorted(all_paths(source), key=str)
    path = data.draw(st.sampled_from(paths), label="path")
    action = data.draw(st.sampled_from(["delete", "replace", "replace", "list_of_values"]), label="action")
    value = data.draw(WEIRD, label="value")
    manifest = copy.deepcopy(source)
    mutate(manifest, path, action, value)
    with copy_of(exports / "cvae") as export:
        (export / "manifest.json").write_text(json.dumps(manifest))
        run_cli(["sample", export, "--n", 3, "--out", export / "s.png"])
        run_cli(["explore", export, "interpolate", "--rows", 2, "--steps", 3, "--out", export / "i.png"])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["data"].update(range=["a", "b"]), r"data\.range: expected \[0, 1\] or \[-1, 1\]"),
        (lambda m: m.update(networks=list(m["networks"].values())), r"networks: expected a JSON object"),
        (lambda m: m.update(latent_dim=-4), r"latent_dim: expected >= 1"),
        (lambda m: m.update(latent_dim=10**9), r"latent_dim: expected <= 65536"),
        (lambda m: m.update(latent_dim=1e9), r"latent_dim: expected an integer"),
        (lambda m: m["networks"]["decoder"]["inputs"][0].update(dtype="string"), r"networks\.decoder\.inputs\[0\]\.dtype"),
        (lambda m: m["networks"]["decoder"].update(file="../decoder.onnx"), r"networks\.decoder\.file: expected a plain file name"),
        (lambda m: m["data"].update(shape=[20000, 20000, 3]), r"data\.shape: .* values per image"),
        (lambda m: m["data"].update(shape=[28, 28, 3]), r"does not fit manifest\.json's data\.shape"),
        (lambda m: m.update(latent_dim=5, latent_kl=None), r"does not fit manifest\.json's latent_dim"),  # latent_kl (4 numbers) would be refused first
    ],
)
def test_manifest_errors_name_the_file_and_the_field(exports, capsys, edit, message):
    import re

    manifest = json.loads((exports / "cvae" / "manifest.json").read_text())
    edit(manifest)
    with copy_of(exports / "cvae") as export:
        (export / "manifest.json").write_text(json.dumps(manifest))
        assert run_cli(["sample", export, "--out", export / "s.png"]) == 2
        err = capsys.readouterr().err
        assert re.search(message, err), err
        assert err.count("error:") == 1
        if "fit manifest" not in message:
            assert str(export / "manifest.json") in err


def test_extra_keys_are_kept_for_forward_compatibility(exports):
    from genkit.runtime import Sampler

    manifest = json.loads((exports / "cvae" / "manifest.json").read_text())
    manifest["export_marker"] = {"by": "genkit", "version": 2}
    manifest["data"]["notes"] = "kept"
    with copy_of(exports / "cvae") as export:
        (export / "manifest.json").write_text(json.dumps(manifest))
        sampler = Sampler(export)
        assert sampler.manifest["export_marker"] == {"by": "genkit", "version": 2}
        assert sampler.manifest["data"]["notes"] == "kept" and "spec" in sampler.manifest


# --------------------------------------------------------------------------- ONNX files
@SETTINGS
@given(
    target=st.sampled_from(["decoder.onnx", "encoder.onnx"]),
    damage=st.sampled_from(["empty", "truncate", "random", "png", "swap", "flip"]),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_damaged_or_swapped_onnx_files_end_in_exit_2(exports, target, damage, fraction, seed):
    with copy_of(exports / "cvae") as export:
        file = export / target
        original = file.read_bytes()
        rng = np.random.default_rng(seed)
        if damage == "empty":
            file.write_bytes(b"")
        elif damage == "truncate":
            file.write_bytes(original[: int(fraction * (len(original) - 1))])
        elif damage == "random":
            file.write_bytes(rng.integers(0, 256, size=int(fraction * 4096) + 1, dtype=np.uint8).tobytes())
        elif damage == "png":
            file.write_bytes((export / "samples.png").read_bytes())
        elif damage == "swap":
            other = export / ("encoder.onnx" if target == "decoder.onnx" else "decoder.onnx")
            file.write_bytes(other.read_bytes())
            other.write_bytes(original)
        else:  # flip a run of bytes in the middle: may still parse, may not
            start = int(fraction * (len(original) - 64))
            file.write_bytes(original[:start] + bytes(64) + original[start + 64 :])
        code = run_cli(["sample", export, "--n", 3, "--out", export / "s.npz"])
        if damage != "flip":
            assert code == 2
        run_cli(["explore", export, "interpolate", "--rows", 1, "--steps", 2, "--out", export / "i.png"])


def test_swapped_networks_are_named(exports, capsys):
    with copy_of(exports / "cvae") as export:
        decoder = (export / "decoder.onnx").read_bytes()
        (export / "decoder.onnx").write_bytes((export / "encoder.onnx").read_bytes())
        (export / "encoder.onnx").write_bytes(decoder)
        assert run_cli(["sample", export, "--out", export / "s.png"]) == 2
        err = capsys.readouterr().err
        assert "does not belong to this manifest" in err and "decoder.onnx" in err
        (export / "encoder.onnx").write_bytes(b"")
        assert run_cli(["sample", export, "--out", export / "s.png"]) == 2
        assert "re-run `genkit export`" in capsys.readouterr().err


# --------------------------------------------------------------------------- input images
DTYPES = ["uint8", "uint16", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "bool"]


@st.composite
def image_arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.integers(0, 3))
    side = draw(st.sampled_from([0, 1, 7, 28]))
    tail = draw(st.sampled_from([(), (1,), (3,), (1, 1)]))
    shape = draw(st.sampled_from([(n, side, side, *tail), (n,), (side, side), ()]))
    fill = draw(st.sampled_from(["zeros", "ones", "negative", "big", "nan", "uniform"]))
    x = np.zeros(shape, np.float64)
    if fill == "ones":
        x += 1
    elif fill == "negative":
        x -= 5
    elif fill == "big":
        x += 300
    elif fill == "nan":
        x += np.nan
    elif fill == "uniform":
        x += np.random.default_rng(0).uniform(-1, 1, size=shape)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(x).astype(dtype) if dtype not in ("float16", "float32", "float64") else x.astype(dtype), dtype, fill


@SETTINGS
@given(case=image_arrays(), name=st.sampled_from(["x", "images"]))
def test_any_input_array_ends_in_exit_0_or_2(exports, case, name):
    x, dtype, fill = case
    with tempfile.TemporaryDirectory() as tmp:
        path = _npz(Path(tmp) / "in.npz", **{name: x})
        code = run_cli(["sample", exports / "translate", "--input", path, "--out", Path(tmp) / "o.npz"])
        if dtype not in ("uint8", "float16", "float32", "float64"):
            assert code == 2, dtype  # uint16, signed ints and bools are not images
        if fill == "nan" and dtype.startswith("float"):
            assert code == 2


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 truncated", "npy"])
def test_zero_byte_and_non_zip_npz_files_end_in_exit_2(exports, tmp_path, capsys, content):
    path = tmp_path / "in.npz"
    if content == "npy":
        np.save(tmp_path / "a.npy", np.zeros((2, 28, 28, 1)))
        (tmp_path / "a.npy").rename(path)
    else:
        path.write_bytes(content)
    assert run_cli(["sample", exports / "translate", "--input", path, "--out", tmp_path / "o.npz"]) == 2
    assert str(path) in capsys.readouterr().err


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (grayscale) over a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(20000, 20000), (100_000, 100_000), (5000, 5000)])
def test_huge_png_is_refused_from_its_header(exports, tmp_path, capsys, size):
    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(*size))
    assert run_cli(["sample", exports / "translate", "--input", path, "--out", tmp_path / "o.npz"]) == 2
    assert "big.png" in capsys.readouterr().err


def test_uint16_and_negative_int8_images_are_refused(exports, tmp_path, capsys):
    for x in (np.full((2, 28, 28, 1), 1000, np.uint16), np.full((2, 28, 28, 1), -3, np.int8)):
        path = _npz(tmp_path / f"{x.dtype}.npz", x=x)
        assert run_cli(["sample", exports / "translate", "--input", path, "--out", tmp_path / "o.npz"]) == 2
        err = capsys.readouterr().err
        assert str(x.dtype) in err and "uint8" in err and str(path) in err


# --------------------------------------------------------------------------- CLI flags
COUNTS = st.one_of(st.sampled_from([-1, 0, 1, 100_001, 10**9, 10**15]), st.integers(-3, 12))


@st.composite
def out_paths(draw, root: Path, suffix: str):
    kind = draw(st.sampled_from(["file", "nested", "folder", "under_file", "bad_suffix"]))
    if kind == "folder":
        (root / f"dir{suffix}").mkdir(exist_ok=True)
        return root / f"dir{suffix}", kind
    if kind == "under_file":
        (root / "plain.txt").write_text("x")
        return root / "plain.txt" / f"o{suffix}", kind
    if kind == "bad_suffix":
        return root / "o.gif", kind
    return (root / "a" / "b" / f"o{suffix}" if kind == "nested" else root / f"o{suffix}"), kind


@SETTINGS
@given(data=st.data())
def test_sample_flags_and_out_paths_end_in_exit_0_or_2(exports, data):
    export = data.draw(st.sampled_from(["cvae", "ddpm", "translate"]), label="export")
    n = data.draw(COUNTS, label="n")
    with tempfile.TemporaryDirectory() as tmp:
        out, kind = data.draw(out_paths(Path(tmp), data.draw(st.sampled_from([".png", ".npz"]))), label="out")
        argv = ["sample", exports / export, "--n", n, "--out", out]
        if export == "ddpm":
            argv += ["--steps", data.draw(COUNTS, label="steps")]
        if export == "translate":
            argv += ["--input", _npz(Path(tmp) / "in.npz", x=np.zeros((3, 28, 28, 1), np.uint8))]
        code = run_cli(argv)
        if kind in ("folder", "under_file", "bad_suffix") or n < 1 or (n > 100_000 and export != "translate"):
            assert code == 2  # with --input, --n is "at most n of the images"


@SETTINGS
@given(rows=COUNTS, steps=COUNTS, n=COUNTS, method=st.sampled_from(["linear", "slerp"]))
def test_explore_flags_end_in_exit_0_or_2(exports, rows, steps, n, method):
    with tempfile.TemporaryDirectory() as tmp:
        code = run_cli(["explore", exports / "cvae", "interpolate", "--rows", rows, "--steps", steps, "--method", method, "--out", Path(tmp) / "i.png"])
        if rows > 1000 or steps > 1000 or rows < 1 or steps < 2:
            assert code == 2
        assert run_cli(["explore", exports / "cvae", "manifold", "--n", n, "--out", Path(tmp) / "m.png"]) == 2  # latent_dim 4


# --------------------------------------------------------------------------- memory budget
def test_budget_cases_fail_fast_under_a_memory_limit(exports, tmp_path):
    """Requests that would allocate gigabytes are refused before allocating, under RLIMIT_AS 3 GiB."""
    big = tmp_path / "big"
    shutil.copytree(exports / "cvae", big)
    manifest = json.loads((big / "manifest.json").read_text())
    manifest["latent_dim"] = 10**9
    (big / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "huge.png").write_bytes(_png_header_only(20000, 20000))
    cases = [
        ["sample", exports / "cvae", "--n", 10**9, "--out", tmp_path / "a.npz"],
        ["sample", exports / "cvae", "--n", 100_000, "--out", tmp_path / "a.png"],
        ["sample", exports / "ddpm", "--steps", 10**8, "--out", tmp_path / "b.npz"],
        ["sample", big, "--out", tmp_path / "c.png"],
        ["sample", exports / "translate", "--input", tmp_path / "huge.png", "--out", tmp_path / "d.npz"],
        ["explore", exports / "cvae", "interpolate", "--rows", 1000, "--steps", 1000, "--out", tmp_path / "e.png"],
    ]
    code = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        from genkit.cli import main
        codes = [main([str(a) for a in argv]) for argv in {[[str(a) for a in c] for c in cases]!r}]
        print("CODES", codes)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "GENKIT_PROVIDER": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "CODES [2, 2, 2, 2, 2, 2]" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
