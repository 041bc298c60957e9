"""Build the family model a spec names: its card says which class, the class builds the networks."""

from __future__ import annotations

from genkit.errors import Problem, SpecError
from genkit.spec.card import card

__all__ = ["build_family"]


def build_family(spec, data_shape, num_classes=None, steps_per_epoch: int = 1):
    """The (uncompiled) family model of `spec` for data of `data_shape`.

    `steps_per_epoch` lets a family turn per-epoch schedules into per-step ones (a KL warm-up).
    """
    _check_block_names(spec.blocks)
    family = card(spec.model.family)
    model = family.model_class()(spec, tuple(data_shape), num_classes, steps_per_epoch)
    model.built = True  # its networks are built functional models; nothing waits for a first call
    return model


def _check_block_names(blocks):
    from genkit.nets import list_layers

    taken = set(list_layers())
    clashes = [name for name in blocks if name in taken]
    if clashes:
        raise SpecError(
            [
                Problem(("blocks", name), f"{name!r} is already a layer name; a block needs its own.", f"Rename it, e.g. '{name}Block'.")
                for name in clashes
            ]
        )
