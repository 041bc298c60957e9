"""`genkit sample EXPORT --input`: reconstruct and denoise through autoencoder exports, never resize silently.

The exports are hand-made linear autoencoders (no training): the encoder averages each 4x4
quadrant of an 8x8 image and the decoder paints the quadrants back, so block-constant images are
reconstructed exactly and any pixel noise is averaged over 16 pixels: a denoiser whose effect is
known, so the tests can check it measurably rather than hope a few training steps suffice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny import cvae_manifest

import genkit
from genkit.cli import main
from genkit.errors import GenkitError
from genkit.runtime.corruption import CORRUPTIONS
from genkit.runtime.input_images import read_images

REPO = Path(__file__).resolve().parents[1]
SHAPE = (8, 8, 1)
LATENT = 4
CLASSES = 3
OWN = {"corruption": "masking", "masking_rate": 0.3, "noise_stddev": 0.5}  # the denoising_ae export's loss settings


# --------------------------------------------------------------------------- tiny exports
def _quadrant_basis() -> np.ndarray:
    """(64, 4) orthonormal columns: the images constant on each 4x4 quadrant."""
    basis = np.zeros((8, 8, LATENT))
    for k, (r, c) in enumerate(((0, 0), (0, 4), (4, 0), (4, 4))):
        basis[r : r + 4, c : c + 4, k] = 0.25  # sixteen pixels of 1/4: unit norm
    return basis.reshape(64, LATENT).astype("float32")


def _networks(conditional: bool = False):
    """Encoder B^T and decoder B (reconstruction: the projection onto quadrant-constant images);
    conditional ones also take a class label, through an all-zero embedding that changes nothing."""
    import keras

    basis = _quadrant_basis()
    x = keras.Input(SHAPE, name="x")
    to_code = keras.layers.Dense(LATENT, use_bias=False, name="z")
    code = to_code(keras.layers.Flatten()(x))
    z = keras.Input((LATENT,), name="z")
    from_code = keras.layers.Dense(64, use_bias=False)
    if conditional:
        y_enc, y_dec = keras.Input((), dtype="int32", name="y"), keras.Input((), dtype="int32", name="y")
        code = keras.layers.Add(name="z_out")([code, keras.layers.Embedding(CLASSES, LATENT, embeddings_initializer="zeros")(y_enc)])
        hidden = keras.layers.Add()([z, keras.layers.Embedding(CLASSES, LATENT, embeddings_initializer="zeros")(y_dec)])
        encoder, decoder = keras.Model([x, y_enc], code), keras.Model([z, y_dec], keras.layers.Reshape(SHAPE, name="x")(from_code(hidden)))
    else:
        encoder, decoder = keras.Model(x, code), keras.Model(z, keras.layers.Reshape(SHAPE, name="x")(from_code(z)))
    to_code.set_weights([basis])
    from_code.set_weights([basis.T])
    return encoder, decoder


def _manifest(name: str, family: str, **changes) -> dict:
    """An unconditional export's manifest: the CVAE's of tiny.py without labels, for `family`."""
    unconditional = {
        "sampling": {"network": "decoder", "latent_input": "z", "label_input": None, "output": "x"},
        "encoding": {"network": "encoder", "image_input": "x", "label_input": None, "outputs": ["z"]},
    }
    return cvae_manifest(name, SHAPE, LATENT, None, family=family, **{**unconditional, **changes})


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """denoising_ae (with its spec's corruption settings), autoencoder, cvae and decoder-only exports."""
    from genkit.export import export_networks

    root = tmp_path_factory.mktemp("sample_input")
    encoder, decoder = _networks()
    export_networks({"encoder": encoder, "decoder": decoder}, root / "dae", _manifest("tiny_dae", "denoising_ae", spec={"loss": OWN}))
    export_networks({"encoder": encoder, "decoder": decoder}, root / "ae", _manifest("tiny_ae", "autoencoder"))
    export_networks({"decoder": decoder}, root / "gen", _manifest("tiny_gen", "gan", encoding=None))
    encoder, decoder = _networks(conditional=True)
    conditional = cvae_manifest("tiny_cvae", SHAPE, LATENT, CLASSES, encoding={"network": "encoder", "image_input": "x", "label_input": "y", "outputs": ["z_out"]})
    ranges = {"encoder": {"y": (0, CLASSES)}, "decoder": {"y": (0, CLASSES)}}
    export_networks({"encoder": encoder, "decoder": decoder}, root / "cvae", conditional, input_ranges=ranges)
    return root


def _clean(n: int = 10, seed: int = 0) -> np.ndarray:
    """Quadrant-constant images in [0.3, 1]: the projection reconstructs them exactly."""
    quadrants = np.random.default_rng(seed).uniform(0.3, 1.0, size=(n, 2, 2))
    return np.kron(quadrants, np.ones((4, 4)))[..., None].astype(np.float32)  # (n, 8, 8, 1)


def _mse(a, b) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def _sample(*argv) -> int:
    return main(["sample", *map(str, argv)])


@pytest.fixture()
def clean_npz(tmp_path):
    path = tmp_path / "clean.npz"
    np.savez(path, x=_clean())
    return path


# --------------------------------------------------------------------------- denoising through the CLI
def test_a_denoising_export_shows_input_corrupted_and_denoised_rows(exports, clean_npz, tmp_path, capsys):
    assert _sample(exports / "dae", "--input", clean_npz, "--out", tmp_path / "grid.png") == 0
    said = capsys.readouterr()
    assert "Denoised 10 images (masking noise rate 0.3, the export's own, seed 0)" in said.out and said.err == ""
    # 10 images, 8 a row: two blocks of three rows (input, corrupted, denoised), 8x8 cells + 1 px padding, scale 2
    assert Image.open(tmp_path / "grid.png").height == (6 * (8 + 1) + 1) * 2

    assert _sample(exports / "dae", "--input", clean_npz, "--out", tmp_path / "out.npz") == 0
    out = np.load(tmp_path / "out.npz")
    assert sorted(out.files) == ["corrupted", "source", "x"]
    np.testing.assert_allclose(out["source"], _clean(), atol=1e-6)
    masked = np.mean(out["corrupted"] == 0.0)
    assert 0.2 < masked < 0.4  # the export's masking rate, 0.3
    # Averaging each quadrant's 16 pixels leaves a third of the corruption's error, or less.
    assert _mse(out["x"], out["source"]) < 0.5 * _mse(out["corrupted"], out["source"])


def test_corruption_and_noise_replace_the_exports_own_settings(exports, clean_npz, tmp_path, capsys):
    out = tmp_path / "g.npz"
    assert _sample(exports / "dae", "--input", clean_npz, "--out", out, "--corruption", "gaussian", "--noise", 0.3, "--seed", 4) == 0
    assert "gaussian noise sigma 0.3, seed 4" in capsys.readouterr().out
    got = np.load(out)
    assert np.mean(got["corrupted"] == 0.0) < 0.05  # Gaussian noise, not masking
    assert _mse(got["x"], got["source"]) < 0.2 * _mse(got["corrupted"], got["source"])
    assert _sample(exports / "dae", "--input", clean_npz, "--out", out, "--noise", 0.6) == 0  # the export's kind, masking
    assert 0.5 < np.mean(np.load(out)["corrupted"] == 0.0) < 0.7


def test_an_autoencoder_reconstructs_its_inputs_in_two_rows(exports, clean_npz, tmp_path, capsys):
    assert _sample(exports / "ae", "--input", clean_npz, "--out", tmp_path / "ae.png", "--n", 3) == 0
    assert "Reconstructed 3 images with tiny_ae (autoencoder)" in capsys.readouterr().out
    assert Image.open(tmp_path / "ae.png").height == (2 * (8 + 1) + 1) * 2  # input, reconstruction
    assert _sample(exports / "ae", "--input", clean_npz, "--out", tmp_path / "ae.npz") == 0
    out = np.load(tmp_path / "ae.npz")
    assert sorted(out.files) == ["source", "x"]
    np.testing.assert_allclose(out["x"], out["source"], atol=1e-5)  # quadrant-constant images come back exactly
    # Asked for, a plain autoencoder is shown on corrupted inputs too.
    assert _sample(exports / "ae", "--input", clean_npz, "--out", tmp_path / "c.npz", "--corruption", "masking", "--noise", 0.2) == 0
    assert "corrupted" in np.load(tmp_path / "c.npz").files


def test_a_conditional_export_takes_label_or_the_npz_labels(exports, tmp_path, capsys):
    np.savez(tmp_path / "xy.npz", x=_clean(4), y=np.array([0, 1, 2, 1]))
    assert _sample(exports / "cvae", "--input", tmp_path / "xy.npz", "--out", tmp_path / "c.npz") == 0
    assert np.load(tmp_path / "c.npz")["y"].tolist() == [0, 1, 2, 1]
    np.savez(tmp_path / "x.npz", x=_clean(4))
    assert _sample(exports / "cvae", "--input", tmp_path / "x.npz", "--out", tmp_path / "c.npz", "--label", 2) == 0
    assert ", label 2)" in capsys.readouterr().out
    assert np.load(tmp_path / "c.npz")["y"].tolist() == [2] * 4
    assert _sample(exports / "cvae", "--input", tmp_path / "x.npz", "--out", tmp_path / "c.npz") == 2
    assert "Give --label K (0..2) for every image, or an .npz with integer labels y" in capsys.readouterr().err
    assert _sample(exports / "cvae", "--input", tmp_path / "x.npz", "--out", tmp_path / "c.npz", "--label", 5) == 2
    assert "label 5 is outside [0, 3)" in capsys.readouterr().err


# --------------------------------------------------------------------------- the Python API
def test_load_export_corrupts_and_reconstructs(exports):
    sampler = genkit.load_export(exports / "dae")
    x = _clean()
    noisy = sampler.corrupt(x, seed=1)  # the export's own: masking, rate 0.3
    np.testing.assert_array_equal(noisy, sampler.corrupt(x, seed=1))
    assert 0.2 < np.mean(noisy == 0.0) < 0.4
    assert _mse(sampler.reconstruct(noisy), x) < 0.5 * _mse(noisy, x)
    gaussian = sampler.corrupt(x, "gaussian", 0.1, seed=1)
    assert gaussian.min() >= 0.0 and gaussian.max() <= 1.0 and 0.005 < _mse(gaussian, x) < 0.015
    with pytest.raises(GenkitError, match="without corruption settings; pass corruption= and noise="):
        genkit.load_export(exports / "ae").corrupt(x)


def test_the_runtime_corruptions_are_the_cards():
    from genkit.families.denoising_ae.card import DenoisingLoss

    assert set(CORRUPTIONS) == set(typing.get_args(DenoisingLoss.model_fields["corruption"].annotation))
    assert set(CORRUPTIONS.values()) <= set(DenoisingLoss.model_fields)


# --------------------------------------------------------------------------- no silent resizing
def test_images_of_another_size_are_resized_with_a_warning_unless_asked(exports, tmp_path, capsys):
    big = np.kron(_clean(1)[0, ..., 0], np.ones((2, 2)))  # the same image at 16x16
    Image.fromarray(np.round(big * 255).astype(np.uint8)).save(tmp_path / "big.png")
    assert _sample(exports / "ae", "--input", tmp_path / "big.png", "--out", tmp_path / "a.npz") == 0
    err = capsys.readouterr().err.strip()
    assert err == (
        "warning: --input: resized 1 of 1 images from 16x16 to 8x8 (bilinear) for this export's data.shape [8, 8, 1]; "
        "pass --resize (resize=True) to resize without this warning."
    )
    assert _sample(exports / "ae", "--input", tmp_path / "big.png", "--out", tmp_path / "a.npz", "--resize") == 0
    assert capsys.readouterr().err == ""
    source, corners = np.load(tmp_path / "a.npz")["source"], np.ix_([0], [0, 7], [0, 7], [0])
    assert source.shape == (1, *SHAPE)  # bilinear blends the quadrant borders; the corners stay
    np.testing.assert_allclose(source[corners], _clean(1)[corners], atol=1 / 255)


def test_an_npz_of_another_size_warns_for_translation_exports_too(tmp_path):
    # read_images serves every --input, translation exports' included
    np.savez(tmp_path / "small.npz", x=np.zeros((2, 4, 4), np.uint8))
    said = []
    assert read_images(tmp_path / "small.npz", SHAPE, warn=said.append).shape == (2, *SHAPE)
    assert said == [
        "warning: --input: resized 2 of 2 images from 4x4 to 8x8 (bilinear) for this export's data.shape [8, 8, 1]; "
        "pass --resize (resize=True) to resize without this warning."
    ]
    read_images(tmp_path / "small.npz", SHAPE, warn=said.append, resize=True)
    assert len(said) == 1


def test_colour_images_for_a_grayscale_export_are_refused_without_resize(exports, tmp_path, capsys):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert _sample(exports / "ae", "--input", tmp_path / "rgb.png", "--out", tmp_path / "a.png") == 2
    err = capsys.readouterr().err
    assert "is a colour (RGB) image, but this export reads grayscale images (data.shape [8, 8, 1])" in err
    assert "Pass --resize (resize=True) to convert to gray anyway" in err and "Traceback" not in err
    assert not (tmp_path / "a.png").exists()
    assert _sample(exports / "ae", "--input", tmp_path / "rgb.png", "--out", tmp_path / "a.npz", "--resize") == 0
    gray = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)[..., None] / 255
    np.testing.assert_allclose(np.load(tmp_path / "a.npz")["source"][0], gray, atol=1e-6)
    # An RGB file whose channels are equal is gray already: read as it is, without a word.
    Image.fromarray(np.repeat(rgb[..., :1], 3, axis=-1)).save(tmp_path / "grey_rgb.png")
    assert _sample(exports / "ae", "--input", tmp_path / "grey_rgb.png", "--out", tmp_path / "b.npz") == 0
    assert capsys.readouterr().err == ""
    # An .npz of RGB arrays is refused whatever its values; with --resize it is turned gray.
    np.savez(tmp_path / "rgb.npz", x=np.repeat(_clean(2), 3, axis=-1))
    assert _sample(exports / "ae", "--input", tmp_path / "rgb.npz", "--out", tmp_path / "c.npz") == 2
    assert "holds RGB images (2, 8, 8, 3), but this export reads grayscale images" in capsys.readouterr().err
    assert _sample(exports / "ae", "--input", tmp_path / "rgb.npz", "--out", tmp_path / "c.npz", "--resize") == 0
    np.testing.assert_allclose(np.load(tmp_path / "c.npz")["source"], _clean(2), atol=1e-6)


# --------------------------------------------------------------------------- bad input: exit 2, one line
@pytest.mark.parametrize(
    ("export", "flags", "message"),
    [
        ("gen", [], "--input applies to translation exports (pix2pix, cyclegan) and to exports with an encoder and a decoder"),
        ("dae", ["--direction", "ab"], "--direction: for translation exports (pix2pix, cyclegan)"),
        ("dae", ["--noise", "1.5"], "--noise: masking noise takes the masking rate, in [0, 1), e.g. 0.3; got 1.5"),
        ("dae", ["--corruption", "blur"], "--corruption: expected one of masking, gaussian; got 'blur'"),
        ("ae", ["--noise", "0.3"], "has no corruption settings of its own; say which corruption with --corruption masking or gaussian"),
        ("ae", ["--corruption", "gaussian"], "give its level with --noise (the noise standard deviation, >= 0, e.g. 0.5)"),
        ("ae", ["--label", "1"], "--label: tiny_ae (autoencoder) is unconditional"),
        ("ae", ["--steps", "3"], "--steps: settings for drawing samples"),
    ],
)
def test_flags_that_do_not_apply_exit_2_with_one_line(exports, clean_npz, tmp_path, capsys, export, flags, message):
    assert _sample(exports / export, "--input", clean_npz, "--out", tmp_path / "x.png", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "x.png").exists()


def test_input_flags_without_input_exit_2(exports, tmp_path, capsys):
    assert _sample(exports / "dae", "--out", tmp_path / "x.png", "--noise", "0.2", "--resize") == 2
    assert "--noise, --resize: settings for --input images; give --input too." in capsys.readouterr().err


# --------------------------------------------------------------------------- onnxruntime only
def test_denoising_through_an_export_never_imports_tensorflow(exports, clean_npz, tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from genkit.cli import main
        assert main(["sample", {str(exports / "dae")!r}, "--input", {str(clean_npz)!r}, "--out", {str(tmp_path / "t.png")!r}]) == 0
        leaked = [m for m in ("tensorflow", "keras", "tf2onnx", "onnx") if m in sys.modules]
        assert not leaked, leaked
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "t.png").is_file()
