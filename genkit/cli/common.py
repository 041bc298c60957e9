"""What the `genkit` commands share: the --debug switch, quiet TensorFlow start-up, loading a spec."""

from __future__ import annotations

from genkit.errors import SpecError

__all__ = ["DEBUG", "build_for_check_located", "load", "located", "quiet_tensorflow"]

# --debug: show TensorFlow's start-up lines and tracebacks (set by `main`).
DEBUG = {"on": False}


def quiet_tensorflow():
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN, CUDA probe) buries genkit's
    # own output; --debug shows it.
    if not DEBUG["on"]:
        from genkit.quiet_tf import quiet_tensorflow_import

        quiet_tensorflow_import()


def load(args):
    from genkit.spec import load_spec

    return load_spec(args.spec, args.set or [], allow_outside_paths=args.allow_outside_paths)


def located(err: SpecError, loaded=None):
    return err.located(loaded.source) if loaded is not None else err


def build_for_check_located(loaded):
    """The family model built on the CPU (builtin datasets are not loaded: shapes are known)."""
    quiet_tensorflow()
    from genkit.train import build_for_check

    try:
        return build_for_check(loaded.spec)
    except SpecError as err:
        raise located(err, loaded) from None
