"""What a pipeline is: the schema of a pipeline file and the checked plan built from it.

`PipelineFile` / `RunEntry` / `Sweep` validate the YAML as written; `Pipeline` / `PlannedRun`
are what `load_pipeline` returns once every run's spec, with its overrides, is valid and builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from genkit.spec import LoadedSpec

__all__ = [
    "EXPORTS_DIR",
    "NAME_PATTERN",
    "REPORTS_DIR",
    "ParamRange",
    "Pipeline",
    "PipelineFile",
    "PlannedRun",
    "RunEntry",
    "Sweep",
]

REPORTS_DIR = Path("reports")
EXPORTS_DIR = Path("exports")
# Names become folder names (reports/<pipeline>/, exports/<pipeline>/<run>/): no '..'.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


# --------------------------------------------------------------------------- the file's schema
class RunEntry(BaseModel):
    """One run of a pipeline: a spec file and what to change in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str = Field(..., description="Spec file, relative to the pipeline file.")
    name: Optional[str] = Field(
        None, pattern=NAME_PATTERN, description="Label of the run in the report and its export folder (default: the spec's name)."
    )
    set: list[str] = Field(default_factory=list, description="Overrides for this run, as --set: 'train.epochs=10'.")


class ParamRange(BaseModel):
    """A range of numbers a sweep draws from (methods random and optuna)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    low: float = Field(..., description="Smallest value.")
    high: float = Field(..., description="Largest value.")
    log: bool = Field(False, description="Draw uniformly in log space (learning rates, loss weights); low must be > 0.")
    integer: bool = Field(False, alias="int", description="Draw whole numbers (sizes, counts); low and high must be whole.")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g}); for one value, write a list: [{self.low:g}]")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true draws in log space, so low must be > 0 (got {self.low:g})")
        if self.integer and not (self.low.is_integer() and self.high.is_integer()):
            raise ValueError(f"int: true needs whole low and high (got {self.low:g} and {self.high:g})")
        return self


# A list of values, or a {low, high} range; the tag names the branch in error paths (dropped by load).
ParamValues = Annotated[
    Annotated[list[Any], Field(min_length=1), Tag("values")] | Annotated[ParamRange, Tag("range")],
    Discriminator(lambda v: "values" if isinstance(v, list) else "range"),
]
SWEEP_METHODS = ("grid", "random", "optuna")


class Sweep(BaseModel):
    """Trials of the pipeline's one run, each with its own values of some `--set` paths, ranked by a metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["grid", "random", "optuna"] = Field(
        ..., description="grid: every combination of the listed values; random: draws from the seed; optuna: Optuna's TPE sampler."
    )
    params: dict[str, ParamValues] = Field(
        ...,
        min_length=1,
        description="--set path -> a list of values (every method) or {low, high, log, int} (random and optuna).",
    )
    trials: int | None = Field(
        None, ge=1, description="Trials to finish (random and optuna; a failed trial counts, an interrupted one does not). Grid: leave out."
    )
    metric: str = Field(..., min_length=1, description="The metrics.json key trials are ranked by, e.g. neg_elbo or fid.")
    direction: Literal["minimize", "maximize"] = Field("minimize", description="Whether a smaller or a larger metric is better.")
    seed: int = Field(0, description="Seed of the random draws and of Optuna's sampler: the same seed, the same trials.")

    @model_validator(mode="after")
    def _fits_method(self):
        ranges = [k for k, v in self.params.items() if isinstance(v, ParamRange)]
        if self.method == "grid":
            if ranges:
                raise ValueError(
                    f"method grid needs a list of values for each param; {', '.join(ranges)} is a range. "
                    "List the values to try, or use method: random or optuna"
                )
            if self.trials is not None:
                raise ValueError(
                    "method grid runs every combination of the values, so it takes no trials; "
                    "leave trials out, or use method: random to run only some"
                )
        elif self.trials is None:
            raise ValueError(f"method {self.method} needs trials: the number of trials to finish, e.g. trials: 20")
        if self.method == "optuna":
            odd = [k for k, v in self.params.items() if isinstance(v, list) and any(isinstance(x, (list, dict)) for x in v)]
            if odd:
                raise ValueError(f"params {', '.join(odd)}: Optuna chooses among numbers, strings and booleans, not lists or mappings")
        return self


class PipelineFile(BaseModel):
    """A pipeline file: a name, a description and the runs, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: str = Field(..., pattern=NAME_PATTERN, description="Pipeline name: reports/<name>/ and exports/<name>/<run>/.")
    description: str = Field("", description="One line shown at the top of the report.")
    runs: list[RunEntry] = Field(..., min_length=1, description="The specs to run, in order.")
    set: list[str] = Field(default_factory=list, description="Overrides for every run, as --set (before each run's own).")
    sweep: Sweep | None = Field(None, description="Run the pipeline's one run as trials over some --set paths (see genkit.pipeline.sweep).")


# --------------------------------------------------------------------------- the checked plan
@dataclass(frozen=True)
class PlannedRun:
    """A run whose spec, with every override applied, is valid and builds."""

    label: str
    loaded: LoadedSpec
    export_dir: Path
    where: str  # 'pipelines/x.yaml:7': the pipeline file's line naming this run
    overrides: tuple = ()  # every --set text applied to its spec, in order (a sweep's trials start from these)


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    path: Path
    runs: tuple
    sweep: Sweep | None = None

    @property
    def report_dir(self) -> Path:
        return REPORTS_DIR / self.name
