"""Latent-space tools of the runtime: slerp/lerp maths, strips, arithmetic, 2-D map, scatter, explore_*."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from PIL import Image

from genkit.errors import GenkitError
from genkit.runtime import Sampler, save_samples
from genkit.runtime.latent import (
    encode_pair,
    explore_arithmetic,
    explore_interpolate,
    explore_manifold,
    explore_scatter,
    interpolate,
    interpolation_strip,
    latent_arithmetic,
    latent_scatter,
    lerp,
    manifold_grid,
    slerp,
)

REPO = Path(__file__).resolve().parents[1]
SHAPE, CLASSES, CVAE_LATENT = (8, 8, 1), 3, 3
CELL = SHAPE[0] + 1  # save_grid: 8 px + 1 px padding per cell, 1 px border, scale 2


def _grid_size(rows: int, cols: int) -> tuple[int, int]:
    return ((cols * CELL + 1) * 2, (rows * CELL + 1) * 2)


def _decoder(latent: int, conditional: bool):
    import keras

    from genkit.nets import LabelEmbedding

    z = keras.Input((latent,), name="z")
    inputs, h = [z], z
    if conditional:
        y = keras.Input((), dtype="int32", name="y")
        inputs.append(y)
        h = keras.layers.Concatenate()([z, LabelEmbedding(CLASSES)(y)])
    h = keras.layers.Dense(32, activation="tanh")(h)
    x = keras.layers.Reshape(SHAPE, name="x")(keras.layers.Dense(64, activation="sigmoid")(h))
    return keras.Model(inputs, x)


def _encoder(latent: int, conditional: bool):
    import keras

    from genkit.nets import LabelEmbedding

    x = keras.Input(SHAPE, name="x")
    inputs, h = [x], keras.layers.Flatten()(x)
    if conditional:
        y = keras.Input((), dtype="int32", name="y")
        inputs.append(y)
        h = keras.layers.Concatenate()([h, LabelEmbedding(CLASSES)(y)])
    h = keras.layers.Dense(16, activation="tanh")(h)
    return keras.Model(inputs, [keras.layers.Dense(latent, name=n)(h) for n in ("z_mean", "z_log_var")])


def _manifest(name, family, latent, conditional, encoder=True):
    label = "y" if conditional else None
    data = {"shape": list(SHAPE), "range": [0.0, 1.0]}
    if conditional:
        data["num_classes"] = CLASSES
    return {
        "format": 1,
        "name": name,
        "family": family,
        "data": data,
        "latent_dim": latent,
        "prior": {"kind": "standard_normal"},
        "sampling": {"network": "decoder", "latent_input": "z", "label_input": label, "output": "x"},
        "encoding": (
            {"network": "encoder", "image_input": "x", "label_input": label, "outputs": ["z_mean", "z_log_var"]}
            if encoder
            else None
        ),
    }


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """A 2-D VAE, a conditional VAE (latent 3, 3 classes) and a generator without encoder (latent 2)."""
    from genkit.export import export_networks

    root = tmp_path_factory.mktemp("latent_exports")
    networks = {"decoder": _decoder(2, False), "encoder": _encoder(2, False)}
    export_networks(networks, root / "vae2", _manifest("vae2", "vae", 2, False))
    ranges = {"decoder": {"y": (0, CLASSES)}, "encoder": {"y": (0, CLASSES)}}
    networks = {"decoder": _decoder(CVAE_LATENT, True), "encoder": _encoder(CVAE_LATENT, True)}
    export_networks(networks, root / "cvae", _manifest("cvae", "cvae", CVAE_LATENT, True), input_ranges=ranges)
    export_networks({"decoder": _decoder(2, False)}, root / "gen2", _manifest("gen2", "gan", 2, False, encoder=False))
    return root


@pytest.fixture(scope="session")
def vae2(exports):
    return Sampler(exports / "vae2")


@pytest.fixture(scope="session")
def cvae(exports):
    return Sampler(exports / "cvae")


@pytest.fixture(scope="session")
def labelled(cvae):
    """30 images with labels 0, 1, 2 in turn (as `genkit sample` writes them)."""
    return cvae.sample(30, seed=0)


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


# --------------------------------------------------------------------------- TF-free
def test_latent_tools_run_in_a_fresh_process_without_tensorflow_or_keras(exports, tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from genkit.runtime import Sampler
        from genkit.runtime.latent import explore_manifold, interpolate, latent_scatter
        sampler = Sampler({str(exports / "vae2")!r})
        x, _ = sampler.sample(20, seed=0)
        print(interpolate(sampler, np.zeros(2), np.ones(2), steps=4, method="slerp").shape)
        latent_scatter(sampler, x, np.arange(20) % 2, {str(tmp_path / "s.png")!r}, method="pca")
        print(explore_manifold({str(exports / "vae2")!r}, {str(tmp_path / "m.png")!r}, n=4))
        leaked = [m for m in ("tensorflow", "keras", "tf2onnx", "onnx", "genkit.data") if m in sys.modules]
        assert not leaked, leaked
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "(4, 8, 8, 1)" in done.stdout and "4x4 map of vae2" in done.stdout
    assert (tmp_path / "s.png").is_file() and (tmp_path / "m.png").is_file()


# --------------------------------------------------------------------------- maths
def test_lerp_is_exact_on_hand_values():
    path = lerp([0.0, 2.0], [4.0, -2.0], np.linspace(0, 1, 5))
    np.testing.assert_array_equal(path, [[0, 2], [1, 1], [2, 0], [3, -1], [4, -2]])


def test_slerp_starts_and_ends_at_the_inputs():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    path = slerp(a, b, [0.0, 1.0])
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[1], b, atol=1e-12)


@pytest.mark.parametrize("angle", [0.3, np.pi / 2, 2.5])
def test_slerp_keeps_unit_norm_where_linear_midpoint_shrinks(angle):
    a, b = np.array([1.0, 0.0, 0.0]), np.array([np.cos(angle), np.sin(angle), 0.0])
    t = np.linspace(0, 1, 7)
    np.testing.assert_allclose(np.linalg.norm(slerp(a, b, t), axis=1), 1.0, atol=1e-12)
    linear_mid = np.linalg.norm(lerp(a, b, [0.5])[0])
    assert linear_mid == pytest.approx(np.cos(angle / 2)) and linear_mid < 1.0
    np.testing.assert_allclose(slerp(a, b, [0.5])[0], [np.cos(angle / 2), np.sin(angle / 2), 0.0], atol=1e-12)


@pytest.mark.parametrize("end", [[2.0, 4.0], [-1.0, -2.0], [0.0, 0.0]], ids=["parallel", "antiparallel", "zero"])
def test_slerp_falls_back_to_linear_for_parallel_or_zero_vectors(end):
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(slerp([1.0, 2.0], end, t), lerp([1.0, 2.0], end, t))


def test_interpolating_vectors_of_different_lengths_is_an_error():
    with pytest.raises(GenkitError, match=r"two vectors of one length; got shapes \(2,\) and \(3,\)"):
        slerp([1, 0], [1, 0, 0], [0.5])


# --------------------------------------------------------------------------- interpolation
def test_interpolate_decodes_the_endpoints_first_and_last(vae2):
    x, _ = vae2.sample(2, seed=1)
    z_a, z_b = encode_pair(vae2, x[0], x[1])
    np.testing.assert_allclose(np.stack([z_a, z_b]), vae2.encode(x), atol=1e-6)
    for method in ("linear", "slerp"):
        images = interpolate(vae2, z_a, z_b, steps=6, method=method)
        assert images.shape == (6, *SHAPE)
        np.testing.assert_allclose(images[[0, -1]], vae2.decode(np.stack([z_a, z_b])), atol=1e-6)


def test_interpolation_strip_writes_one_row_per_pair(vae2, tmp_path):
    pairs = np.random.default_rng(0).standard_normal((3, 2, 2))
    images = interpolation_strip(vae2, tmp_path / "strip.png", pairs=pairs, steps=7, method="slerp")
    assert images.shape == (21, *SHAPE)
    assert _png_size(tmp_path / "strip.png") == _grid_size(3, 7)
    np.testing.assert_allclose(images[7:8], vae2.decode(pairs[1, :1]), atol=1e-6)  # row 1 starts at pair 1's start
    np.testing.assert_allclose(images[13:14], vae2.decode(pairs[1, 1:]), atol=1e-6)  # ... and ends at its end


def test_conditional_strip_decodes_each_row_with_its_class_and_labels_it(cvae, labelled, tmp_path):
    x, y = labelled
    z_a, z_b = encode_pair(cvae, x[0], x[3], y[0], y[3])
    images = interpolation_strip(cvae, tmp_path / "c.png", pairs=[[z_a, z_b]] * 2, steps=4, labels=[0, 2])
    np.testing.assert_allclose(images[4:], interpolate(cvae, z_a, z_b, steps=4, label=2), atol=1e-6)
    width, height = _png_size(tmp_path / "c.png")
    assert height == _grid_size(2, 4)[1] and width > _grid_size(2, 4)[0]  # the class labels widen it
    with pytest.raises(GenkitError, match=r"cvae is conditional: pass label=K \(--label K\).*0\.\.2"):
        interpolate(cvae, z_a, z_b)


def test_interpolation_misuse_is_a_clear_error(vae2, tmp_path):
    with pytest.raises(GenkitError, match=r"method: got 'slerpp'\. Did you mean 'slerp'\?"):
        interpolate(vae2, [0, 0], [1, 1], method="slerpp")
    with pytest.raises(GenkitError, match=r"steps must be at least 2"):
        interpolate(vae2, [0, 0], [1, 1], steps=1)
    with pytest.raises(GenkitError, match=r"latent_dim 2; the endpoints must have shape \(2,\); got \(3,\)"):
        interpolate(vae2, [0, 0, 0], [1, 1, 1])
    with pytest.raises(GenkitError, match=r"vae2 is unconditional; drop label"):
        interpolate(vae2, [0, 0], [1, 1], label=1)
    with pytest.raises(GenkitError, match=r"must end in \.png; got suffix '\.jpg'"):
        interpolation_strip(vae2, tmp_path / "s.jpg", pairs=np.zeros((1, 2, 2)))


# --------------------------------------------------------------------------- arithmetic
def test_arithmetic_decodes_mean_a_minus_mean_b_plus_mean_c(cvae, labelled, tmp_path):
    x, y = labelled
    images = latent_arithmetic(cvae, x, y, 2, 0, 1, n=4, path=tmp_path / "a.png")
    first = {k: np.flatnonzero(y == k)[:4] for k in range(CLASSES)}  # the first 4 images of each class
    means = {k: cvae.encode(x[i], y[i]).astype(np.float64).mean(axis=0) for k, i in first.items()}
    by_hand = (means[2] - means[0] + means[1]).astype(np.float32)
    np.testing.assert_allclose(images[3], cvae.decode(by_hand[None], [1])[0], atol=1e-5)  # decoded with c
    np.testing.assert_allclose(images[0], cvae.decode(means[2][None], [2])[0], atol=1e-5)
    width, height = _png_size(tmp_path / "a.png")
    assert height == _grid_size(1, 4)[1] and width > _grid_size(1, 4)[0]
    relabelled = latent_arithmetic(cvae, x, y, 2, 0, 1, n=4, path=tmp_path / "b.png", label=0)
    np.testing.assert_allclose(relabelled[3], cvae.decode(by_hand[None], [0])[0], atol=1e-5)


def test_arithmetic_on_an_unconditional_export(vae2, tmp_path):
    x, _ = vae2.sample(12, seed=2)
    y = np.arange(12) % 3
    images = latent_arithmetic(vae2, x, y, 0, 1, 2, n=8, path=tmp_path / "a.png")
    z = vae2.encode(x).astype(np.float64)
    by_hand = z[y == 0].mean(0) - z[y == 1].mean(0) + z[y == 2].mean(0)  # 4 per class: all of them
    np.testing.assert_allclose(images[3], vae2.decode(by_hand[None].astype(np.float32))[0], atol=1e-5)
    assert _png_size(tmp_path / "a.png")[1] == _grid_size(1, 4)[1]


def test_arithmetic_needs_an_encoder_labels_and_present_classes(exports, vae2, labelled, tmp_path):
    x, y = labelled
    x2, _ = vae2.sample(6, seed=0)
    with pytest.raises(GenkitError, match=r"needs an encoder .* gen2 is a 'gan' export without one"):
        latent_arithmetic(Sampler(exports / "gen2"), x2, np.zeros(6, int), 0, 0, 0, path=tmp_path / "a.png")
    with pytest.raises(GenkitError, match=r"needs labels y, one per image"):
        latent_arithmetic(vae2, x2, None, 0, 1, 2, path=tmp_path / "a.png")
    with pytest.raises(GenkitError, match=r"class b=7 has no images in the data; the labels present are 0, 1, 2"):
        latent_arithmetic(Sampler(exports / "cvae"), x, y, 0, 7, 1, path=tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


# --------------------------------------------------------------------------- manifold
def test_manifold_grid_decodes_gaussian_quantiles_with_z2_up(vae2, tmp_path):
    images = manifold_grid(vae2, tmp_path / "m.png", n=5, span=(0.1, 0.9))
    assert images.shape == (25, *SHAPE)
    assert _png_size(tmp_path / "m.png") == _grid_size(5, 5)
    low, high = NormalDist().inv_cdf(0.1), NormalDist().inv_cdf(0.9)
    corners = vae2.decode(np.array([[low, high], [high, high], [low, low], [high, low]]))
    np.testing.assert_allclose(images[[0, 4, 20, 24]], corners, atol=1e-6)  # top-left has the highest z2
    np.testing.assert_allclose(images[12], vae2.decode(np.zeros((1, 2)))[0], atol=1e-6)  # the centre is z = 0


def test_manifold_grid_refuses_latent_dim_other_than_2(cvae, vae2, tmp_path):
    with pytest.raises(GenkitError, match=r"2-D latent space as a grid; cvae has latent_dim 3\. .*latent_scatter"):
        manifold_grid(cvae, tmp_path / "m.png", label=0)
    with pytest.raises(GenkitError, match=r"0 < low < high < 1 .*got \(0, 0\.9\)"):
        manifold_grid(vae2, tmp_path / "m.png", span=(0.0, 0.9))
    assert not (tmp_path / "m.png").exists()


# --------------------------------------------------------------------------- scatter
@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_latent_scatter_writes_a_png_and_returns_the_points_it_drew(cvae, labelled, tmp_path, method):
    x, y = labelled
    points, index = latent_scatter(cvae, x, y, tmp_path / "s.png", method=method, max_points=20, seed=1)
    assert points.shape == (20, 2) and np.isfinite(points).all()
    assert len(np.unique(index)) == 20 and np.all(np.diff(index) > 0)  # a subset, in x order
    assert _png_size(tmp_path / "s.png") == (640, 520)
    if method == "pca":
        z = cvae.encode(x[index], y[index]).astype(np.float64)
        centred = z - z.mean(0)
        top2 = centred @ np.linalg.svd(centred)[2][:2].T  # projection on the two leading axes
        np.testing.assert_allclose(np.abs(points), np.abs(top2), atol=1e-4)  # each axis up to sign


def test_latent_scatter_without_labels_and_its_errors(vae2, exports, tmp_path):
    x, _ = vae2.sample(10, seed=0)
    points, index = latent_scatter(vae2, x, None, tmp_path / "s.png")
    assert points.shape == (10, 2) and list(index) == list(range(10))
    with pytest.raises(GenkitError, match=r"method: got 'umap'\. Expected one of: pca, tsne\."):
        latent_scatter(vae2, x, None, tmp_path / "s.png", method="umap")
    with pytest.raises(GenkitError, match=r"needs an encoder"):
        latent_scatter(Sampler(exports / "gen2"), x, None, tmp_path / "s.png")


# --------------------------------------------------------------------------- explore_* (the CLI's entry points)
@pytest.fixture(scope="session")
def cvae_npz(labelled, tmp_path_factory):
    path = tmp_path_factory.mktemp("latent_data") / "cvae.npz"
    save_samples(path, *labelled)
    return path


def test_explore_commands_write_pngs_and_summarise(exports, cvae_npz, tmp_path):
    cvae_dir, vae_dir = exports / "cvae", exports / "vae2"
    summary = explore_interpolate(cvae_dir, tmp_path / "i.png", data=cvae_npz, rows=3, steps=5, method="slerp")
    assert "Wrote 3 interpolation strips of 5 steps (slerp)" in summary and "CPUExecutionProvider" in summary
    assert _png_size(tmp_path / "i.png")[1] == _grid_size(3, 5)[1]
    summary = explore_interpolate(cvae_dir, tmp_path / "p.png", rows=2)  # prior draws, classes in turn
    assert "2 pairs of prior draws" in summary and "of 10 steps (linear)" in summary
    summary = explore_interpolate(cvae_dir, tmp_path / "q.png", data=cvae_npz, pairs=[[0, 3], [1, 2]], label=1)
    assert "2 pairs of" in summary
    summary = explore_arithmetic(cvae_dir, tmp_path / "a.png", data=cvae_npz, a=2, b=0, c=1)
    assert "mean(2) - mean(0) + mean(1) (up to 8 images each" in summary
    assert "10x10 map of vae2" in explore_manifold(vae_dir, tmp_path / "m.png", n=10)
    assert _png_size(tmp_path / "m.png") == _grid_size(10, 10)
    assert "pca scatter of 30 encoded images" in explore_scatter(cvae_dir, tmp_path / "s.png", data=cvae_npz)


def test_explore_data_errors_say_what_to_write(exports, vae2, cvae_npz, tmp_path):
    cvae_dir = exports / "cvae"
    with pytest.raises(GenkitError, match=r"image 0 is class 0 and image 1 is class 1; .*Pass --label K"):
        explore_interpolate(cvae_dir, tmp_path / "i.png", data=cvae_npz, pairs=[[0, 1]])
    with pytest.raises(GenkitError, match=r"--pair: image 99 is outside the data's 30 images"):
        explore_interpolate(cvae_dir, tmp_path / "i.png", data=cvae_npz, pairs=[[0, 99]])
    unlabelled = tmp_path / "x.npz"
    np.savez(unlabelled, x=vae2.sample(4, seed=0)[0])
    with pytest.raises(GenkitError, match=r"has no array y, but latent arithmetic averages the latents of each class"):
        explore_arithmetic(exports / "vae2", tmp_path / "a.png", data=unlabelled, a=0, b=1, c=2)
    with pytest.raises(GenkitError, match=r"has no array y, but cvae's encoder is conditional"):
        explore_scatter(cvae_dir, tmp_path / "s.png", data=unlabelled)
    bytes_ = tmp_path / "bytes.npz"
    np.savez(bytes_, x=np.full((4, *SHAPE), 255.0), y=np.zeros(4, int))
    with pytest.raises(GenkitError, match=r"x holds values in \[255, 255\].*\[0, 1\]\. Rescale it"):
        explore_scatter(cvae_dir, tmp_path / "s.png", data=bytes_)
    with pytest.raises(GenkitError, match=r"--data .*missing\.npz does not exist"):
        explore_scatter(cvae_dir, tmp_path / "s.png", data=tmp_path / "missing.npz")
    with pytest.raises(GenkitError, match=r"--pair picks images from --data"):
        explore_interpolate(cvae_dir, tmp_path / "i.png", pairs=[[0, 1]])
    assert not list(tmp_path.glob("*.png"))
