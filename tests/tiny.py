"""Tiny specs shared by the tests: small networks on 28x28x1 data, trained for seconds."""

import copy

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


def tiny_spec(family: str, **overrides) -> dict:
    """A spec mapping for `family` that trains in seconds on 256 MNIST digits."""
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
    for key, value in overrides.items():
        node = spec
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return spec


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
