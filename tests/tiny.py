"""Tiny specs shared by the tests: small networks on 28x28x1 data, trained for seconds."""

import copy

import yaml

from genkit.spec import validate_dict
from genkit.spec.card import card
from genkit.spec.starter import starter_spec

ENCODER = {"layers": [{"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}}, {"Flatten": {}}, {"Dense": {"units": 8, "activation": "sigmoid"}}]}
DECODER = {"layers": [{"Dense": {"units": 196, "activation": "relu"}}, {"Reshape": {"target_shape": [7, 7, 4]}}, {"Conv2DTranspose": {"filters": 4, "kernel_size": 3, "strides": 4, "padding": "same", "activation": "relu"}}, {"Conv2D": {"filters": 1, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}}]}

LOSSES = {
    "autoencoder": {"reconstruction": "bce"},
    "sparse_ae": {"sparsity": "kl", "sparsity_target": 0.1, "sparsity_weight": 1.0},
    "denoising_ae": {"corruption": "masking", "masking_rate": 0.3},
    "contractive_ae": {"contractive_weight": 1.0e-3},
    "vae": {"kl_weight": 1.0, "kl_warmup_epochs": 1},
    "cvae": {"kl_weight": 1.0},
}


def with_overrides(spec: dict, overrides: dict) -> dict:
    """`spec` with each dotted key of `overrides` (e.g. "loss.kl_weight") set to its value."""
    for key, value in overrides.items():
        node = spec
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return spec


def tiny_spec(family: str, **overrides) -> dict:
    """A spec mapping for `family` that trains in seconds on 256 MNIST digits."""
    if family == "ddpm":
        return tiny_ddpm_spec(**overrides)
    spec = {
        "name": f"tiny_{family}",
        "seed": 3,
        "data": {"source": "mnist", "limit": 256, "batch_size": 32, "labels": family == "cvae", "validation_split": 0.125},
        "model": {"family": family, "networks": {"encoder": copy.deepcopy(ENCODER), "decoder": copy.deepcopy(DECODER)}},
        "loss": copy.deepcopy(LOSSES[family]),
        "train": {"epochs": 1, "tensorboard": False},
        "evaluate": {"samples": 64},
    }
    if family in ("vae", "cvae"):
        spec["model"]["latent_dim"] = 4
        spec["evaluate"]["metrics"] = ["reconstruction", "elbo"] + (["class_accuracy"] if family == "cvae" else [])
    if family == "cvae":
        spec["model"]["condition"] = {"num_classes": 10}
    return with_overrides(spec, overrides)


def cvae_manifest(name, shape, latent_dim, num_classes, **changes) -> dict:
    """The manifest facts a conditional VAE export carries (what genkit.runtime reads)."""
    manifest = {
        "format": 1,
        "name": name,
        "family": "cvae",
        "data": {"shape": list(shape), "range": [0.0, 1.0], "num_classes": num_classes},
        "latent_dim": latent_dim,
        "prior": {"kind": "standard_normal"},
        "sampling": {"network": "decoder", "latent_input": "z", "label_input": "y", "output": "x"},
        "encoding": {"network": "encoder", "image_input": "x", "label_input": "y", "outputs": ["z_mean", "z_log_var"]},
    }
    manifest.update(changes)
    return manifest


GENERATOR = {"layers": [{"Dense": {"units": 196, "activation": "relu"}}, {"Reshape": {"target_shape": [7, 7, 4]}}, {"Conv2DTranspose": {"filters": 4, "kernel_size": 3, "strides": 4, "padding": "same", "activation": "relu"}}, {"Conv2D": {"filters": 1, "kernel_size": 3, "padding": "same", "activation": "tanh"}}]}
DISCRIMINATOR = {"layers": [{"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}}, {"LeakyReLU": {"negative_slope": 0.2, "name": "features"}}, {"Flatten": {}}, {"Dense": {"units": 1}}]}
GAN_LOSSES = {"gan": {}, "cgan": {}, "wgan": {"critic_steps": 2}}


def tiny_gan_spec(family: str, **overrides) -> dict:
    """A spec mapping for the adversarial `family` (gan, cgan, wgan): tiny networks, 256 digits in [-1, 1]."""
    opponent = "critic" if family == "wgan" else "discriminator"
    spec = {
        "name": f"tiny_{family}",
        "seed": 3,
        "data": {"source": "mnist", "limit": 256, "batch_size": 32, "range": [-1, 1], "labels": family == "cgan", "validation_split": 0.125},
        "model": {"family": family, "latent_dim": 8, "networks": {"generator": copy.deepcopy(GENERATOR), opponent: copy.deepcopy(DISCRIMINATOR)}},
        "loss": copy.deepcopy(GAN_LOSSES[family]),
        "train": {"epochs": 1, "tensorboard": False},
        "evaluate": {"metrics": [], "samples": 64},
    }
    if family == "cgan":
        spec["model"]["condition"] = {"num_classes": 10}
    return with_overrides(spec, overrides)


def tiny_unet(conditional: bool = False) -> dict:
    """A two-level U-Net graph with every diffusion block, ~10k parameters."""
    nodes = [
        {"id": "temb", "layer": "SinusoidalEmbedding", "dim": 16, "from": "t"},
        {"id": "h0", "layer": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "from": "x"},
        {"id": "d1", "layer": "ResBlock", "filters": 8, "groups": 4, "from": ["h0", "emb" if conditional else "temb"]},
        {"id": "p1", "layer": "AveragePooling2D", "pool_size": 2, "from": "d1"},
        {"id": "mid", "layer": "ResBlock", "filters": 16, "groups": 4, "dropout": 0.1, "from": ["p1", "emb" if conditional else "temb"]},
        {"id": "att", "layer": "SelfAttention2D", "heads": 2, "groups": 4, "from": "mid"},
        {"id": "u1", "layer": "UpSampling2D", "from": "att"},
        {"id": "e1", "layer": "ResBlock", "filters": 8, "groups": 4, "from": [{"concat": ["u1", "d1"]}, "emb" if conditional else "temb"]},
        {"id": "out", "layer": "Conv2D", "filters": 1, "kernel_size": 1, "from": "e1"},
    ]
    inputs = {"x": [28, 28, 1], "t": []}
    if conditional:
        nodes.insert(1, {"id": "emb", "layer": "Add", "from": ["temb", "y"]})  # class vector + time vector
        inputs["y"] = [16]
    return {"inputs": inputs, "graph": nodes}


def tiny_ddpm_spec(conditional: bool = False, **overrides) -> dict:
    """A DDPM spec mapping (100 timesteps, 5 sampler steps) that trains in seconds on 256 digits."""
    spec = {
        "name": "tiny_ddpm_cond" if conditional else "tiny_ddpm",
        "seed": 3,
        "data": {"source": "mnist", "limit": 256, "batch_size": 32, "range": [-1, 1], "labels": conditional, "validation_split": 0.125},
        "model": {"family": "ddpm", "diffusion": {"timesteps": 100}, "networks": {"denoiser": tiny_unet(conditional)}},
        "train": {"epochs": 1, "tensorboard": False, "ema": 0.9},
        "sample": {"steps": 5},
        "evaluate": {"metrics": [], "samples": 64},
    }
    if conditional:
        spec["model"]["condition"] = {"num_classes": 10, "encoding": "embedding", "embedding_dim": 16}
        spec["sample"]["guidance_scale"] = 2.0
    return with_overrides(spec, overrides)


def tiny_translator() -> dict:
    """A two-level U-Net graph from a 28x28x1 image to one of the same shape (sigmoid), ~3k parameters."""
    return {
        "graph": [
            {"id": "d1", "layer": "Conv2D", "filters": 8, "kernel_size": 4, "strides": 2, "padding": "same", "activation": "relu", "from": "x"},
            {"id": "d2", "layer": "Conv2D", "filters": 8, "kernel_size": 4, "strides": 2, "padding": "same", "activation": "relu", "from": "d1"},
            {"id": "u1", "layer": "Conv2DTranspose", "filters": 8, "kernel_size": 4, "strides": 2, "padding": "same", "activation": "relu", "from": "d2"},
            {"id": "u2", "layer": "Conv2DTranspose", "filters": 8, "kernel_size": 4, "strides": 2, "padding": "same", "activation": "relu", "from": {"concat": ["u1", "d1"]}},
            {"id": "out", "layer": "Conv2D", "filters": 1, "kernel_size": 3, "padding": "same", "activation": "sigmoid", "from": {"concat": ["u2", "x"]}},
        ]
    }


PATCH_DISCRIMINATOR = {"layers": [{"Conv2D": {"filters": 8, "kernel_size": 4, "strides": 2, "padding": "same"}}, {"LeakyReLU": {"negative_slope": 0.2}}, {"Conv2D": {"filters": 1, "kernel_size": 3, "padding": "same"}}]}
TRANSLATION = {"pix2pix": {"pairing": "paired", "derive": "super_resolution"}, "cyclegan": {"pairing": "unpaired", "derive": "thicken"}}


def tiny_translation_spec(family: str, **overrides) -> dict:
    """A pix2pix (paired super-resolution) or cyclegan (unpaired thickening) spec on 256 digits per domain."""
    if family == "pix2pix":
        networks = {"generator": tiny_translator(), "discriminator": copy.deepcopy(PATCH_DISCRIMINATOR)}
        metrics = ["translation_l1", "mean_intensity"]
    else:
        networks = {"generator_ab": tiny_translator(), "generator_ba": tiny_translator(),
                    "discriminator_a": copy.deepcopy(PATCH_DISCRIMINATOR), "discriminator_b": copy.deepcopy(PATCH_DISCRIMINATOR)}
        metrics = ["cycle_error", "mean_intensity"]
    spec = {
        "name": f"tiny_{family}",
        "seed": 3,
        "data": {"source": "mnist", "limit": 256, "batch_size": 32, "validation_split": 0.125, "translation": copy.deepcopy(TRANSLATION[family])},
        "model": {"family": family, "networks": networks},
        "train": {"epochs": 1, "tensorboard": False},
        "evaluate": {"metrics": metrics, "samples": 64},
    }
    if family == "cyclegan":
        spec["loss"] = {"pool_size": 8}
    return with_overrides(spec, overrides)


def tiny_spec_of(family: str, **overrides) -> dict:
    """The tiny spec of any family: `tiny_gan_spec` for the adversarial ones, else `tiny_spec`."""
    if family in GAN_LOSSES:
        return tiny_gan_spec(family, **overrides)
    if family in TRANSLATION:
        return tiny_translation_spec(family, **overrides)
    return tiny_spec(family, **overrides)


def contract_spec(name: str, **train) -> dict:
    """The family's starter spec on MNIST, shrunk: 96 digits, batches of 8 per update, 2 steps an epoch."""
    raw = yaml.safe_load(starter_spec(name, "mnist"))
    declared = card(name)
    k = getattr(validate_dict(raw).loss, declared.sub_batches[0]) if declared.sub_batches else 1
    raw["name"] = f"contract_{name}"
    raw["data"].update(limit=96, batch_size=8 * k, validation_split=0.25)
    raw["train"].update({"epochs": 2, "steps_per_epoch": 2, "tensorboard": False, "sample_every": 0, **train})
    raw["evaluate"] = {"metrics": raw["evaluate"]["metrics"][:1], "samples": 16}
    if declared.diffusion:
        raw["sample"] = {"sampler": "ddim", "steps": 4}
    return raw


def trained_cvae(folder, **prior):
    """(Run, export folder): a tiny cvae with `prior.*` settings, trained one epoch and exported, unevaluated."""
    import genkit

    spec = tiny_spec("cvae", **{f"prior.{k}": v for k, v in prior.items()}, runs_dir=str(folder / "runs"))
    spec["evaluate"]["metrics"] = ["reconstruction"]
    return genkit.train(spec, out=folder / "export", quiet=True, evaluate=False), folder / "export"
