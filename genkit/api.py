"""The Python API: load a spec, train it, evaluate and export the run, sample the export.

The command line is built on these functions (`genkit run SPEC` is `train`, `genkit evaluate
RUN` is `Run.evaluate`, `genkit export RUN` is `Run.export`), so a notebook or a script
trains, evaluates and exports exactly what the command does, into the same run and export
folders, with the same safety (an export of another spec is replaced only with `force`).

`import genkit` stays light: TensorFlow is imported by the first call that needs it
(`train`, `open_run`, ...), with its start-up lines filtered (`genkit.quiet_tf`);
`load_spec` needs only pydantic and `load_export` only onnxruntime.

Example:
    import genkit

    run = genkit.train("specs/vae_mnist.yaml", overrides=["train.epochs=2"])
    print(run.history[-1]["loss"], run.metrics["neg_elbo"])
    sampler = genkit.load_export(run.export_dir)   # exported by train, as `genkit run` does
    x, y = sampler.sample(16, seed=0)              # (16, 28, 28, 1) float32 in the data range
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from pathlib import Path

from genkit.errors import GenkitError, Problem, SpecError

# Before genkit's training modules import TensorFlow: its start-up lines filtered (a caller that
# imported TensorFlow itself, or `genkit --debug`, which shows them, keeps its own import).
from genkit.quiet_tf import quiet_tensorflow_import

__all__ = ["Run", "load_export", "load_spec", "open_run", "train"]


def load_spec(path, overrides=(), *, allow_outside_paths: bool = False):
    """The validated, frozen spec (`genkit.spec.Spec`) in the YAML file `path`.

    `overrides` are `--set` strings, e.g. `["train.epochs=2", "model.latent_dim=8"]`.
    Raises `genkit.SpecError` listing every problem, each with its field and file:line.
    """
    from genkit.spec import load_spec as load

    return load(path, _override_list(overrides), allow_outside_paths=allow_outside_paths).spec


def train(
    spec=None,
    *,
    overrides=(),
    out=None,
    force: bool = False,
    quiet: bool = False,
    resume=False,
    allow_spec_change: bool = False,
    evaluate: bool = True,
    export: bool = True,
    allow_outside_paths: bool = False,
) -> Run:
    """Train a spec into a new run folder, evaluate it and export it: `genkit run`.

    Args:
        spec: a spec file path, a spec from `load_spec`, or a spec mapping (as the YAML holds). Given
            the path, an error found while building the networks also says the file and line.
        overrides: `--set` strings applied to a spec file, e.g. `["train.epochs=2"]`.
        out: the export folder (default: `export.dir`, else `exports/<name>`).
        force: replace an export of another spec or name in that folder, keeping it under
            `<folder>/.previous/` (`--force`); without it that export is left alone and an error says so.
        quiet: print nothing on stdout (data summary, epoch lines, metrics table); warnings and errors still show.
        resume: True continues the spec's newest run from its last checkpoint; a run folder continues
            that run (its stored spec is used when `spec` is None). `genkit run --resume`.
        allow_spec_change: with `resume`, continue although the spec changed (`--allow-spec-change`).
        evaluate: write the run's metrics.json; export: export it to ONNX. Both off is `genkit train`.

    Returns the `Run`. Raises `SpecError` for a bad spec, `GenkitError` for other mistakes.
    """
    folder = _resume_folder(resume)
    loaded = _loaded(spec, overrides, allow_outside_paths, folder)
    if allow_spec_change and not resume:
        raise GenkitError("allow_spec_change (--allow-spec-change) applies with resume: it lets a run continue under a changed spec.")
    # The command line a Ctrl-C message prints to resume this run: `genkit run|train --resume RUN ...`.
    command = "run" if export else "train"
    export_flags = (["--out", str(out)] if out else []) + (["--force"] if force else [])
    resume_flags = (["--allow-spec-change"] if allow_spec_change else []) + (export_flags if command == "run" else [])
    quiet_tensorflow_import()
    from genkit.evaluate.sample_quality import sample_scores
    from genkit.train import train as fit

    with _stdout(quiet):
        try:
            prep = fit(
                loaded, resume=bool(resume), run_dir=folder, allow_spec_change=allow_spec_change,
                score_samples=sample_scores, command=command, flags=resume_flags,
            )
        except SpecError as err:
            raise err.located(loaded.source) from None
    run = Run(prep.run_dir, prep.spec, quiet=quiet, prepared=prep)
    # Every worker of a cluster evaluates (its collective ops need them all); the chief exports.
    if evaluate:
        run._evaluate(then_export=export_flags if export and prep.chief else None)
    if export and prep.chief:
        run.export(out, force=force)
    return run


# What a finished run can still change: how it is evaluated and exported, never what was trained.
AFTER_TRAINING = ("evaluate", "export")


def open_run(folder, *, overrides=(), quiet: bool = False) -> Run:
    """The finished run in `folder` (runs/<name>/<time>), trained by `train` or `genkit run|train`.

    Its model and data are rebuilt on first use (`Run.evaluate`, `Run.export`, `Run.model`).
    `overrides` (`--set` texts) may change the run's `evaluate.*` and `export.*` settings, e.g.
    `["export.onnx.quantize=static_int8"]`; any other key is refused (SpecError), as the
    trained weights belong to the spec they were trained with.
    """
    folder = Path(folder)
    quiet_tensorflow_import()
    from genkit.spec.loader import parse_override
    from genkit.train.run_folder import load_run_spec
    from genkit.train.runner import FINAL_WEIGHTS, resume_command

    trained = [text for text in overrides if parse_override(text)[0][0] not in AFTER_TRAINING]
    if trained:
        raise SpecError(
            [
                Problem(
                    (),
                    f"--set {trained[0]}: a finished run keeps the spec it was trained with; only evaluate.* and "
                    "export.* settings apply to it.",
                    "Train a new run with it instead: genkit run SPEC --set ...",
                    "--set",
                )
            ]
        )
    spec = load_run_spec(folder, overrides).spec
    if not (folder / FINAL_WEIGHTS).is_file():
        raise GenkitError(f"{folder} has no {FINAL_WEIGHTS}: its training did not finish. Resume it with: {resume_command(folder)}")
    return Run(folder, spec, quiet=quiet)


def load_export(folder, *, provider: str | None = None):
    """The export in `folder` opened with onnxruntime only: a `genkit.runtime.Sampler`.

    Its methods and the `genkit sample` flags they answer to:
      `sample(n, labels=None, seed=None)` -> `(x, y)`: `--n N --label K --seed S` (`labels` is an int
      for one class, or one label per sample); diffusion exports also take `steps`, `sampler`, `eta`,
      `guidance_scale`, `guidance_interval`, style exports `truncation`, `mix`, `crossover`, InfoGAN exports `codes`.
      `translate(x, direction="ab")`: `--input FILE --direction ab|ba` (pix2pix, cyclegan).
      `encode(x, y=None)`, `decode(z, y=None)`, `reconstruct(x, y=None)`: exports with an encoder / a decoder;
      `reconstruct(x, y)` is `--input FILE [--label K]` on such exports. `corrupt(x, corruption=None, noise=None,
      seed=None)`: x corrupted as a denoising_ae export was trained (its own settings by default), for
      `reconstruct` to denoise: `--input FILE [--corruption masking|gaussian] [--noise LEVEL] [--seed S]`.
      `score(x, y=None, metric="mse")`: anomaly score per image, its reconstruction error (`genkit score`).
    `provider`: "cpu" or "cuda" to force a device.
    """
    from genkit.runtime import Sampler

    return Sampler(folder, provider=provider)


class Run:
    """A run folder (runs/<name>/<time>) and what was trained in it.

    Attributes:
        folder: the run folder.
        spec: the resolved spec the run was trained with.
        history: one dict per epoch, as history.csv logs it (`epoch`, `loss`, `val_loss`, ...).
        metrics: the held-out metrics of metrics.json (None before `evaluate`).
        export_dir: the folder `export` last wrote (None before it).
    """

    def __init__(self, folder, spec, *, quiet: bool = False, prepared=None):
        self.folder = Path(folder)
        self.spec = spec
        self.quiet = quiet
        self.export_dir: Path | None = None
        self._prepared = prepared

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r}, family={self.spec.model.family!r})"

    @property
    def prepared(self):
        """The trained model with its data and spec (`genkit.train.Prepared`), rebuilt from the folder once."""
        if self._prepared is None:
            quiet_tensorflow_import()
            from genkit.train import open_run as rebuild

            with _stdout(self.quiet):
                self._prepared = rebuild(self.folder, self.spec)
        return self._prepared

    @property
    def model(self):
        """The trained Keras model of the family (its networks: `model.networks()`)."""
        return self.prepared.model

    @property
    def chief(self) -> bool:
        """False on a multi-worker cluster's other workers, whose run folder is temporary."""
        return self._prepared is None or self._prepared.chief

    @property
    def history(self) -> list[dict]:
        path = self.folder / "history.csv"
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            return [{k: int(v) if k == "epoch" else _number(v) for k, v in row.items()} for row in csv.DictReader(f)]

    @property
    def metrics(self) -> dict | None:
        path = self.folder / "metrics.json"
        return json.loads(path.read_text())["metrics"] if path.is_file() else None

    def evaluate(self) -> dict:
        """Held-out metrics on the test split, written to metrics.json: `genkit evaluate RUN`.

        Returns them as `metrics` reads them back (JSON: a per-class mapping has string keys)."""
        self._evaluate(then_export=None)
        return self.metrics

    def _evaluate(self, then_export=None) -> dict:
        """`then_export`: the export flags when `genkit run` exports next (None: `genkit evaluate`),
        for what a Ctrl-C message says."""
        quiet_tensorflow_import()
        from genkit.evaluate import evaluate_model, format_table, write_metrics
        from genkit.train.interrupt import interrupted_phase

        prep, run = self.prepared, self.folder
        evaluate_again = _command("evaluate", run)
        if then_export is None:
            said = (
                f"stopped during evaluation; the run folder {run} is as it was (a metrics.json it had is the "
                f"previous one, whole). Evaluate again with: {evaluate_again}"
            )
        else:
            said = (
                f"stopped during evaluation; training finished and the run folder {run} is complete (final weights "
                "saved), but no metrics.json was written and nothing was exported. Finish with: "
                f"{evaluate_again} && {_command('export', run, *then_export)}"
            )
        with _stdout(self.quiet):
            with interrupted_phase(said):
                report = evaluate_model(prep)
                path = write_metrics(report, run)
            print(format_table(report))
            print(f"metrics written to {path}")
        return report

    def export(self, dir=None, *, force: bool = False) -> Path:
        """Export to ONNX with a parity check: `genkit export RUN [--out DIR] [--force]`. Returns the folder.

        `dir`: default `export.dir`, else `exports/<name>`. `force`: as in `train`.
        """
        quiet_tensorflow_import()
        from genkit.export.from_run import default_export_dir, export_run
        from genkit.train.interrupt import interrupted_phase

        prep = self.prepared
        flags = (["--out", str(dir)] if dir else []) + (["--force"] if force else [])
        try:
            target = Path(dir) if dir else default_export_dir(prep.spec)
            where = f"the export folder {target} is untouched (a new export is swapped in only whole)"
        except GenkitError:
            where = "the export folder is untouched"
        said = (
            f"stopped during export; {where}, and the run folder {self.folder} is complete"
            f"{' with its metrics.json' if (self.folder / 'metrics.json').is_file() else ''}. "
            f"Export again with: {_command('export', self.folder, *flags)}"
        )
        with _stdout(self.quiet):
            with interrupted_phase(said):
                manifest = export_run(prep, dir, force=force)
            out_dir = Path(dir) if dir else default_export_dir(prep.spec)
            parity = {n: f"{v.get('parity_max_abs_diff', float('nan')):.1e}" for n, v in manifest["networks"].items()}
            print(f"exported {', '.join(manifest['networks'])} to {out_dir} (ONNX vs Keras max abs diff: {parity})")
        self.export_dir = out_dir
        return out_dir


# --------------------------------------------------------------------------- helpers
def _override_list(overrides) -> list:
    # One "key=value" string is one override, not a sequence of characters.
    return [overrides] if isinstance(overrides, str) else list(overrides)


def _resume_folder(resume) -> Path | None:
    if isinstance(resume, bool):
        return None
    folder = Path(resume)
    if not (folder / "spec.yaml").is_file():
        raise GenkitError(
            f"resume={str(resume)!r}: not a run folder (it has no spec.yaml). Give a folder runs/<name>/<time>, "
            "or resume=True for the spec's newest run."
        )
    return folder


def _loaded(spec, overrides, allow_outside_paths: bool, folder: Path | None):
    """`spec` as a `genkit.spec.LoadedSpec` (the spec and where each field was written)."""
    from genkit.spec import LoadedSpec, SourceMap, validate_dict
    from genkit.spec.schema import SpecBase

    overrides = _override_list(overrides)
    if spec is None:
        if folder is None:
            raise GenkitError("train: give a spec (a file, a spec from genkit.load_spec, or a mapping), or resume=RUN_FOLDER.")
        from genkit.train.run_folder import load_run_spec

        return load_run_spec(folder, overrides)
    if isinstance(spec, (str, os.PathLike)):
        from genkit.spec import load_spec as load

        return load(spec, overrides, allow_outside_paths=allow_outside_paths)
    if overrides:
        raise GenkitError("train: overrides apply to a spec file; change a loaded spec with genkit.load_spec(path, overrides).")
    if isinstance(spec, LoadedSpec):
        return spec
    if isinstance(spec, SpecBase):
        return LoadedSpec(spec=spec, source=SourceMap(), path=None)
    if isinstance(spec, dict):
        return LoadedSpec(spec=validate_dict(spec), source=SourceMap(), path=None)
    raise TypeError(f"train: spec must be a file path, a spec from genkit.load_spec or a mapping; got {type(spec).__name__}.")


def _stdout(quiet: bool):
    return contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()


def _command(verb: str, folder, *flags) -> str:
    import shlex

    return shlex.join(["genkit", verb, str(folder), *flags])


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text
