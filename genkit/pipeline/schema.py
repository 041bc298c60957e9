"""What a pipeline is: the schema of a pipeline file and the checked plan built from it.

`PipelineFile` / `RunEntry` validate the YAML as written; `Pipeline` / `PlannedRun` are
what `load_pipeline` returns once every run's spec, with its overrides, is valid and builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from genkit.spec import LoadedSpec

__all__ = ["EXPORTS_DIR", "NAME_PATTERN", "REPORTS_DIR", "Pipeline", "PipelineFile", "PlannedRun", "RunEntry"]

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


class PipelineFile(BaseModel):
    """A pipeline file: a name, a description and the runs, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: str = Field(..., pattern=NAME_PATTERN, description="Pipeline name: reports/<name>/ and exports/<name>/<run>/.")
    description: str = Field("", description="One line shown at the top of the report.")
    runs: list[RunEntry] = Field(..., min_length=1, description="The specs to run, in order.")
    set: list[str] = Field(default_factory=list, description="Overrides for every run, as --set (before each run's own).")


# --------------------------------------------------------------------------- the checked plan
@dataclass(frozen=True)
class PlannedRun:
    """A run whose spec, with every override applied, is valid and builds."""

    label: str
    loaded: LoadedSpec
    export_dir: Path
    where: str  # 'pipelines/x.yaml:7': the pipeline file's line naming this run


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    path: Path
    runs: tuple

    @property
    def report_dir(self) -> Path:
        return REPORTS_DIR / self.name
