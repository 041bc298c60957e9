"""TensorFlow-free sampling from exports: Sampler, providers, image/array outputs, sample_main."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genkit.errors import GenkitError
from genkit.runtime import Sampler, make_session, sample_main, save_grid, save_samples
from tiny import cvae_manifest

REPO = Path(__file__).resolve().parents[1]
LATENT, CLASSES, SHAPE = 4, 3, (8, 8, 1)
PRIOR_MEAN = [5.0, -5.0, 2.0, 0.0]
PRIOR_TRIL = [[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 0.1]]


def _cvae_networks():
    import keras

    from genkit.nets import LabelEmbedding

    z = keras.Input((LATENT,), name="z")
    y = keras.Input((), dtype="int32", name="y")
    h = keras.layers.Dense(64)(keras.layers.Concatenate()([z, LabelEmbedding(CLASSES)(y)]))
    # Linear then scaled: values leave [0, 1], so clipping to the data range is visible.
    x = keras.layers.Rescaling(3.0, name="x")(keras.layers.Reshape(SHAPE)(h))
    decoder = keras.Model([z, y], x)

    xi = keras.Input(SHAPE, name="x")
    yi = keras.Input((), dtype="int32", name="y")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(xi), LabelEmbedding(CLASSES)(yi)])
    encoder = keras.Model([xi, yi], [keras.layers.Dense(LATENT, name=n)(h) for n in ("z_mean", "z_log_var")])
    return decoder, encoder


def _identity_decoder():
    import keras

    z = keras.Input((LATENT,), name="z")
    return keras.Model(z, keras.layers.Reshape((2, 2, 1), name="x")(z))  # x holds z itself


def _manifest(name, **changes):
    return cvae_manifest(name, SHAPE, LATENT, CLASSES, **changes)


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """Three exports: a conditional VAE, an autoencoder with a Gaussian prior, an encoder only."""
    from genkit.export import export_networks

    root = tmp_path_factory.mktemp("runtime_exports")
    decoder, encoder = _cvae_networks()
    ranges = {"decoder": {"y": (0, CLASSES)}, "encoder": {"y": (0, CLASSES)}}
    export_networks({"decoder": decoder, "encoder": encoder}, root / "cvae", _manifest("cvae"), input_ranges=ranges)
    gaussian = _manifest(
        "ae_gauss",
        family="autoencoder",
        data={"shape": [2, 2, 1], "range": [-100.0, 100.0]},
        prior={"kind": "gaussian", "mean": PRIOR_MEAN, "scale_tril": PRIOR_TRIL},
        sampling={"network": "decoder", "latent_input": "z", "label_input": None, "output": "x"},
        encoding=None,
    )
    export_networks({"decoder": _identity_decoder()}, root / "ae_gauss", gaussian)
    export_networks({"encoder": encoder}, root / "enc_only", _manifest("enc_only", sampling=None), input_ranges=ranges)
    return root


@pytest.fixture(scope="session")
def cvae(exports):
    return Sampler(exports / "cvae")


def test_runtime_samples_in_a_fresh_process_without_tensorflow_or_cuda_noise(exports, tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from genkit.runtime import Sampler, sample_main
        sampler = Sampler({str(exports / "cvae")!r})
        x, y = sampler.sample(16, seed=0)
        assert x.shape == (16, 8, 8, 1), x.shape
        print(sample_main({str(exports / "cvae")!r}, 16, 2, {str(tmp_path / "s.png")!r}, 0))
        leaked = [m for m in ("tensorflow", "keras", "tf2onnx", "onnx") if m in sys.modules]
        assert not leaked, leaked
        print("PROVIDER", sampler.provider)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "GENKIT_PROVIDER"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    provider = done.stdout.split("PROVIDER ")[1].strip()
    has_gpu = Path("/dev/nvidia0").exists()
    assert provider == ("CUDAExecutionProvider" if has_gpu else "CPUExecutionProvider")
    assert f"on {provider}" in done.stdout
    assert "cuda" not in done.stderr.lower() and "onnxruntime" not in done.stderr, done.stderr
    assert (tmp_path / "s.png").is_file()


def test_sample_shapes_dtypes_and_clipping_to_the_data_range(cvae):
    x, y = cvae.sample(10, seed=1)
    assert x.shape == (10, *SHAPE) and x.dtype == np.float32
    assert y.shape == (10,) and y.dtype == np.int32
    assert x.min() == 0.0 and x.max() == 1.0  # the raw decoder goes beyond [0, 1]
    assert cvae.conditional and cvae.provider == "CPUExecutionProvider"


def test_labels_none_cycle_int_fills_and_array_is_kept(cvae):
    _, y = cvae.sample(7, seed=0)
    np.testing.assert_array_equal(y, [0, 1, 2, 0, 1, 2, 0])
    _, y = cvae.sample(5, labels=2, seed=0)
    np.testing.assert_array_equal(y, [2] * 5)
    _, y = cvae.sample(3, labels=np.array([1, 0, 1]), seed=0)
    np.testing.assert_array_equal(y, [1, 0, 1])


@pytest.mark.parametrize("labels", [3, -1, [0, 5, 1]])
def test_label_outside_the_classes_is_an_error(cvae, labels):
    n = 3 if isinstance(labels, list) else 4
    with pytest.raises(GenkitError, match=r"outside \[0, 3\).*3 classes, 0\.\.2"):
        cvae.sample(n, labels=labels)


def test_labels_of_the_wrong_count_or_type_are_errors(cvae):
    with pytest.raises(GenkitError, match=r"labels must be 4 integers"):
        cvae.sample(4, labels=[0, 1])
    with pytest.raises(GenkitError, match=r"labels must be 2 integers"):
        cvae.sample(2, labels=[0.5, 1.0])
    with pytest.raises(GenkitError, match=r"n must be a positive integer"):
        cvae.sample(0)


def test_same_seed_same_samples_whatever_the_batch_size(cvae):
    a, _ = cvae.sample(9, seed=5, batch_size=2)
    b, _ = cvae.sample(9, seed=5, batch_size=256)
    c, _ = cvae.sample(9, seed=6)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, c)


def test_decode_encode_reconstruct(cvae):
    x, y = cvae.sample(6, seed=0)
    z = cvae.encode(x, y)
    assert z.shape == (6, LATENT) and z.dtype == np.float32
    assert cvae.decode(z, y).shape == (6, *SHAPE)
    r = cvae.reconstruct(x, y)
    assert r.shape == x.shape and r.min() >= 0.0 and r.max() <= 1.0
    with pytest.raises(GenkitError, match=r"images must have shape \(N, 8, 8, 1\)"):
        cvae.encode(np.zeros((2, 28, 28, 1)), [0, 1])
    with pytest.raises(GenkitError, match=r"is conditional"):
        cvae.decode(z)


def test_gaussian_prior_draws_have_its_mean_and_covariance(exports):
    sampler = Sampler(exports / "ae_gauss")
    assert not sampler.conditional
    x, y = sampler.sample(20000, seed=0)
    assert y is None
    z = x.reshape(len(x), LATENT)  # the decoder is the identity
    tril = np.array(PRIOR_TRIL)
    np.testing.assert_allclose(z.mean(axis=0), PRIOR_MEAN, atol=0.05)
    np.testing.assert_allclose(np.cov(z.T), tril @ tril.T, atol=0.1)
    with pytest.raises(GenkitError, match=r"unconditional; labels \(--label\) apply to conditional"):
        sampler.sample(2, labels=1)
    with pytest.raises(GenkitError, match=r"without an encoder"):
        sampler.encode(x[:2])


def test_export_that_cannot_sample_still_encodes(exports):
    sampler = Sampler(exports / "enc_only")
    with pytest.raises(GenkitError, match=r"cannot sample \(its manifest has sampling: null\)"):
        sampler.sample(4)
    assert sampler.encode(np.zeros((2, *SHAPE)), [0, 2]).shape == (2, LATENT)


def test_missing_folder_manifest_or_onnx_file_is_a_clear_error(exports, tmp_path):
    with pytest.raises(GenkitError, match=r"Export folder .*nowhere does not exist"):
        Sampler(tmp_path / "nowhere")
    with pytest.raises(GenkitError, match=r"is not a genkit export: it has no manifest\.json"):
        Sampler(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text((exports / "cvae" / "manifest.json").read_text())
    with pytest.raises(GenkitError, match=r"incomplete: decoder\.onnx \(network 'decoder'\) .* missing"):
        Sampler(broken)
    (broken / "decoder.onnx").write_bytes(b"not onnx")
    with pytest.raises(GenkitError, match=r"onnxruntime could not load .*decoder\.onnx"):
        Sampler(broken)
    manifest = json.loads((exports / "cvae" / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(GenkitError, match=r"manifest format 99 is not supported"):
        Sampler(broken)


def test_npz_output_holds_x_and_y(cvae, tmp_path):
    x, y = cvae.sample(5, seed=0)
    save_samples(tmp_path / "s.npz", x, y)
    with np.load(tmp_path / "s.npz") as data:
        assert data["x"].dtype == np.float32 and data["x"].shape == (5, *SHAPE)
        assert data["y"].dtype == np.int32
        np.testing.assert_array_equal(data["y"], y)
    save_samples(tmp_path / "u.npz", x)
    with np.load(tmp_path / "u.npz") as data:
        assert sorted(data.files) == ["x"]


def test_png_grid_has_the_expected_size_and_labels_widen_it(tmp_path):
    images = np.random.default_rng(0).uniform(size=(6, *SHAPE)).astype(np.float32)
    save_grid(images, tmp_path / "g.png", nrow=3, scale=2)
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L" and im.size == ((3 * 9 + 1) * 2, (2 * 9 + 1) * 2)  # 8 px + 1 px padding
    save_grid(images, tmp_path / "l.png", nrow=3, scale=2, row_labels=["0", "1"])
    with Image.open(tmp_path / "l.png") as im:
        assert im.size[1] == 38 and im.size[0] > 56
    rgb = np.zeros((4, 5, 5, 3), np.float32)
    save_grid(rgb, tmp_path / "c.png", value_range=(-1, 1), scale=1)
    with Image.open(tmp_path / "c.png") as im:
        assert im.mode == "RGB" and im.size == (2 * 6 + 1, 2 * 6 + 1)


def test_labelled_png_puts_one_class_per_row(cvae, tmp_path):
    x, y = cvae.sample(12, seed=0)  # 4 of each of 3 classes
    save_samples(tmp_path / "s.png", x, y)
    with Image.open(tmp_path / "s.png") as im:
        assert im.size[1] == (3 * 9 + 1) * 2  # three class rows
        assert im.size[0] > (4 * 9 + 1) * 2  # four columns plus the label margin


def test_other_suffixes_are_refused(cvae, tmp_path):
    with pytest.raises(GenkitError, match=r"must end in \.png .* or \.npz .*got suffix '\.jpg'"):
        save_samples(tmp_path / "s.jpg", np.zeros((1, *SHAPE)))
    with pytest.raises(GenkitError, match=r"must end in \.png"):
        sample_main(cvae.export_dir, 4, None, tmp_path / "s.gif", 0)


def test_sample_main_writes_and_summarises(cvae, tmp_path):
    summary = sample_main(cvae.export_dir, 6, None, tmp_path / "out" / "s.npz", 0)
    assert "Wrote 6 samples of cvae" in summary
    assert str(tmp_path / "out" / "s.npz") in summary and "CPUExecutionProvider" in summary
    with np.load(tmp_path / "out" / "s.npz") as data:
        np.testing.assert_array_equal(data["y"], [0, 1, 2, 0, 1, 2])


def test_steps_is_refused_for_exports_that_are_not_diffusion(cvae, tmp_path):
    with pytest.raises(GenkitError, match=r"--steps applies to diffusion exports; .* 'cvae' export"):
        sample_main(cvae.export_dir, 4, None, tmp_path / "s.png", 0, steps=50)
    assert not (tmp_path / "s.png").exists()


def test_provider_choice_is_read_from_the_environment(exports, monkeypatch):
    onnx_file = exports / "cvae" / "decoder.onnx"
    monkeypatch.setenv("GENKIT_PROVIDER", "cpu")
    assert make_session(onnx_file)[1] == "CPUExecutionProvider"
    monkeypatch.setenv("GENKIT_PROVIDER", "gpu")
    with pytest.raises(GenkitError, match=r"GENKIT_PROVIDER=gpu is not a device genkit knows; expected cpu or cuda"):
        make_session(onnx_file)


def test_hand_edited_manifest_without_network_files_is_a_clear_error(tmp_path, exports):
    import json
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(exports / "cvae", broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    del next(iter(manifest["networks"].values()))["file"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GenkitError, match="lacks file"):
        Sampler(broken)


@pytest.mark.parametrize(
    ("prior", "mean", "std", "bounds"),
    [
        ({"kind": "standard_normal"}, 0.0, 1.0, None),
        ({"kind": "normal", "std": 0.25}, 0.0, 0.25, None),
        ({"kind": "uniform", "low": -0.5, "high": 1.5}, 0.5, 2.0 / 12**0.5, (-0.5, 1.5)),
        # Components at -1 and +1 weighted 1/4, 3/4, each of std 0.5: mean 0.5, variance 0.25 + 1 - 0.25.
        (
            {"kind": "mixture", "weights": [0.25, 0.75], "means": [[-1.0] * 3, [1.0] * 3], "scale_trils": [(np.eye(3) * 0.5).tolist()] * 2},
            0.5,
            1.0,
            None,
        ),
    ],
)
def test_latent_prior_kinds_draw_their_distribution_and_grids_map_onto_it(prior, mean, std, bounds):
    from genkit.runtime.latent.maths import from_standard_normal, prior_moments
    from genkit.runtime.prior import LatentPrior

    z = LatentPrior.from_prior(prior, 3).draw(np.random.default_rng(0), 20000)
    assert z.dtype == np.float32 and z.shape == (20000, 3)
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(z.std(axis=0), std, rtol=0.03)
    # Standard-normal coordinates (grids, interpolations) land on the same distribution.
    mapped = from_standard_normal(prior, np.random.default_rng(1).standard_normal((20000, 3)))
    np.testing.assert_allclose(mapped.std(axis=0), std, rtol=0.03)
    np.testing.assert_allclose(prior_moments(prior, 3)[1], std, rtol=1e-9)
    if bounds is not None:
        assert z.min() >= bounds[0] and z.max() < bounds[1] and mapped.min() >= bounds[0] and mapped.max() <= bounds[1]
        assert from_standard_normal(prior, np.zeros(3)) == pytest.approx(np.full(3, mean))  # ε = 0: the middle


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        ({"kind": "normal"}, "needs std"),
        ({"kind": "uniform", "low": 1.0, "high": 1.0}, "low < high"),
        ({"kind": "cauchy"}, "kind"),
        ({"kind": "mixture", "weights": [1.0]}, "needs weights"),
    ],
)
def test_a_prior_without_its_parameters_is_refused_when_the_export_opens(prior, message):
    from genkit.manifest import PriorFacts

    with pytest.raises(ValueError, match=message):
        PriorFacts(**prior)


def _load_in_a_fresh_process(export, cache):
    """(pydantic imported?, the manifest) of `load_manifest(export)` in a new process using `cache`."""
    code = (
        "import json, sys\n"
        "from genkit.manifest import load_manifest\n"
        f"manifest = load_manifest({str(export)!r})\n"
        "print(json.dumps(['pydantic' in sys.modules, manifest]))\n"
    )
    env = {**os.environ, "GENKIT_CACHE": str(cache), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_manifest_validated_once_is_read_again_without_pydantic_and_to_the_same_dict(exports, tmp_path):
    first_pydantic, first = _load_in_a_fresh_process(exports / "cvae", tmp_path / "cache")
    again_pydantic, again = _load_in_a_fresh_process(exports / "cvae", tmp_path / "cache")
    assert first_pydantic and not again_pydantic  # ~0.2 s of `genkit sample`'s cold start
    assert again == first and first["latent_dim"] == LATENT and first["codes"] is None  # declared fields present
    assert len(list((tmp_path / "cache" / "manifests").glob("*.json"))) == 1


def test_an_edited_manifest_is_validated_again_whatever_the_cache_holds(exports, tmp_path, monkeypatch):
    from genkit.manifest import load_manifest

    monkeypatch.setenv("GENKIT_CACHE", str(tmp_path / "cache"))
    export = tmp_path / "cvae"
    shutil.copytree(exports / "cvae", export)
    assert load_manifest(export)["latent_dim"] == LATENT  # now cached
    (entry,) = (tmp_path / "cache" / "manifests").glob("*.json")
    entry.write_text("{half an entr")  # a damaged entry is not trusted: the manifest is validated again
    assert load_manifest(export)["latent_dim"] == LATENT
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["latent_dim"] = "four"
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GenkitError, match="latent_dim"):
        load_manifest(export)
    # Nor does an unwritable cache stop a valid export from opening.
    monkeypatch.setenv("GENKIT_CACHE", str(export / "manifest.json"))  # a file, not a folder
    shutil.copy(exports / "cvae" / "manifest.json", export / "manifest.json")
    assert load_manifest(export)["latent_dim"] == LATENT
