"""Pipelines: several specs checked together, then each trained, evaluated and exported.

Use a pipeline to compare models: one file names the specs, and `genkit run` checks them
all before any training starts, trains them one after another and writes one report.

    pipeline: mnist_zoo                       # reports/mnist_zoo/, exports/mnist_zoo/<run>/
    description: Every genkit family on MNIST, compared.
    set: [train.tensorboard=false]            # overrides for every run
    runs:
      - spec: ../specs/vae_mnist.yaml         # relative to this file
        name: vae                             # label in the report (default: the spec's name)
        set: [train.epochs=10]                # this run only

Overrides are read exactly as `--set` reads them and applied in this order: the
pipeline's `set`, the run's `set`, then the command line's `--set` (the last one wins).

Order of work (this package and `genkit/cli.py` are the only places that know it):
1. check the pipeline file, then load every spec with its overrides and build its networks
   (as `genkit validate` does); every problem of every run is reported at once, as one
   `SpecError`, before anything is written;
2. for each run: train -> evaluate -> export (to `exports/<pipeline>/<run>/` unless the
   spec sets `export.dir`). A run that fails is recorded with its stage and message, and
   the next run starts;
3. `reports/<pipeline>/` (see `genkit.report`) is rewritten after every run, so a long
   pipeline shows its progress and an interrupted one keeps what finished;
4. if any run failed, `PipelineFailed` is raised after the report is written.

A pipeline with a `sweep:` section runs its one run as trials over some `--set` paths
instead, each in a process of its own, resumable after a kill, ranked in the report (see
`genkit.pipeline.sweep`).

Modules: `schema` (the pipeline file and the checked plan), `load` (step 1), `run`
(steps 2-4), `sweep` (a sweep's study), `sweep_plan` (its trials' values), `sweep_journal`
(its state on disk), `sweep_trial` (one trial's process).

Example:
    report_dir = run_pipeline("pipelines/smoke.yaml", ["train.epochs=2"])
"""

from genkit.pipeline.load import is_pipeline_file, load_pipeline
from genkit.pipeline.run import PipelineFailed, run_pipeline
from genkit.pipeline.schema import Pipeline, PipelineFile, PlannedRun, RunEntry

__all__ = [
    "Pipeline",
    "PipelineFailed",
    "PipelineFile",
    "PlannedRun",
    "RunEntry",
    "is_pipeline_file",
    "load_pipeline",
    "run_pipeline",
]
