"""Sweeps: a pipeline's one run as trials over some `--set` paths, each in its own process, ranked.

    pipeline: sweep_vae
    runs: [{spec: ../specs/vae_mnist.yaml}]  # the spec every trial starts from
    sweep:
      method: grid                           # grid | random | optuna
      params:                                # --set path -> values, or {low, high, log, int}
        loss.kl_weight: [0.5, 1.0, 2.0]
        model.latent_dim: [2, 8]
      metric: neg_elbo                       # the metrics.json key to rank by
      direction: minimize

Each trial trains and evaluates the spec with the pipeline's overrides, then the trial's
values (`python -m genkit.pipeline.sweep_trial`, one process per trial: a crash or an
out-of-memory kill ends that trial only, and its memory is returned). Its output goes to
`<runs_dir>/sweeps/<pipeline>/tNNN/trial.log`, its run folder under that same folder.

The study's state is `<runs_dir>/sweeps/<pipeline>/`: journal.json (every trial's params and
outcome, rewritten atomically) and, for optuna, optuna.journal (Optuna's JournalStorage). Not
under reports/: the report folder is replaced whole on every write. Running the pipeline
again resumes the study: finished trials (ok or failed) are kept, a trial that was running
when the sweep was killed is run again with the same values, and the budget counts finished
trials. A changed sweep or base spec is refused (only `trials` may grow).

reports/<pipeline>/ ranks the trials by the metric, best first, with their values as columns
(report.md, report.html, sweep.csv), failed trials with their reason. The pipeline fails
(`PipelineFailed`) only when no trial finished ok: a diverging or out-of-memory trial is one
outcome of a study, not the end of it.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from genkit.errors import GenkitError
from genkit.pipeline.schema import Pipeline
from genkit.pipeline.sweep_journal import Journal, Trial
from genkit.pipeline.sweep_plan import fingerprint, override_text, planned_trials, suggest
from genkit.report import RunRecord, format_duration, write_report
from genkit.report.ranking import Ranking
from genkit.spec.yaml_reader import source_label

__all__ = ["run_sweep", "sweep_folder"]

OPTUNA_HINT = "pip install 'optuna>=5.0,<5.1'"
# The module each trial's process runs (`python -m`); tests put a quick stand-in here.
TRIAL_MODULE = "genkit.pipeline.sweep_trial"


def sweep_folder(pipeline: Pipeline) -> Path:
    """`<runs_dir>/sweeps/<pipeline>/`: the study's journal, and each trial's log and run folder."""
    return Path(pipeline.runs[0].loaded.spec.runs_dir) / "sweeps" / pipeline.name


def run_sweep(pipeline: Pipeline, *, allow_outside_paths: bool = False) -> tuple:
    """Run (or resume) the study of a checked pipeline with a `sweep:`.

    Returns:
        (report folder, failed trials as (label, stage, message)): the failed trials only
        when no trial finished ok (`run_pipeline` raises `PipelineFailed` then), else [].

    Raises:
        GenkitError: the journal belongs to another study, or optuna is not installed.
    """
    start = time.time()
    sweep, run = pipeline.sweep, pipeline.runs[0]
    folder = sweep_folder(pipeline)
    source = source_label(pipeline.path.resolve())
    # Grid and random rank by any metric the runs have, so the metric may change mid-study;
    # Optuna's sampler learned from the old one, so for it the metric is part of the study.
    exclude = {"metric", "direction"} if sweep.method != "optuna" else set()
    spec = run.loaded.spec.model_dump(mode="json")
    study = fingerprint(sweep.model_copy(update={k: None for k in exclude}), spec)
    journal = Journal.open(folder / "journal.json", study, sweep.method, source)
    stale = journal.mark_interrupted()
    planned = planned_trials(sweep) if sweep.method != "optuna" else []
    total = len(planned) or sweep.trials
    print(
        f"sweep {pipeline.name}: {sweep.method}, {total} trials over {', '.join(sweep.params)}; state in {folder}",
        flush=True,
    )
    if journal.trials:
        print(
            f"resuming the study in {folder}: {journal.finished()} of {total} trials finished"
            + (f", {len(stale)} interrupted (run again)" if stale else ""),
            flush=True,
        )

    def report() -> Path:
        trials = dict(journal.trials)
        for number, params in enumerate(planned):  # grid/random trials not started yet show as pending
            trials.setdefault(number, Trial(number, params, status="pending"))
        records = [_record(t, run) for _, t in sorted(trials.items())]
        ranking = Ranking(sweep.metric, sweep.direction, sweep.method, {t.label: t.params for t in trials.values()})
        return write_report(
            pipeline.report_dir,
            name=pipeline.name,
            description=pipeline.description,
            source=source,
            records=records,
            seconds=time.time() - start,
            ranking=ranking,
        )

    runner = _TrialRunner(pipeline, journal, folder, report, allow_outside_paths, total)
    with _sigterm_interrupts():
        if sweep.method == "optuna":
            _optuna_study(runner, folder, stale)
        else:
            for number, params in enumerate(planned):
                if not journal.is_finished(number):
                    runner.run(number, params)

    folder_written = report()
    done = [t for t in journal.trials.values() if t.status in ("ok", "failed")]
    ok = [t for t in done if t.status == "ok"]
    print(f"\nsweep {pipeline.name} done in {format_duration(time.time() - start)}: {len(ok)} of {len(done)} trials ok")
    print(f"ranking: {folder_written / 'report.md'} (and report.html, sweep.csv)", flush=True)
    return folder_written, [] if ok else [(t.label, t.stage, t.error) for t in done]


class _TrialRunner:
    """Runs one trial in its own process and records it in the journal and the report."""

    def __init__(self, pipeline, journal, folder, report, allow_outside_paths, total):
        self.pipeline, self.journal, self.folder, self.report = pipeline, journal, folder, report
        self.allow, self.total = allow_outside_paths, total

    def run(self, number: int, params: dict, optuna_number=None) -> Trial:
        run, sweep = self.pipeline.runs[0], self.pipeline.sweep
        trial = Trial(number, dict(params), optuna_number=optuna_number)
        tdir = self.folder / trial.label
        shutil.rmtree(tdir, ignore_errors=True)  # what an interrupted attempt of this trial left
        tdir.mkdir(parents=True)
        self.journal.put(trial)
        self.report()
        shown = " ".join(f"{k}={v}" for k, v in params.items())
        print(
            f"\n[trial {trial.label}, {self.journal.finished() + 1}/{self.total}] {shown}  (log: {tdir / 'trial.log'})",
            flush=True,
        )

        texts = [
            *run.overrides,
            override_text("runs_dir", str(tdir)),
            *(override_text(k, v) for k, v in params.items()),
        ]
        command = [sys.executable, "-m", TRIAL_MODULE, str(run.loaded.path), "--result", str(tdir / "result.json")]
        command += [part for text in texts for part in ("--set", text)]
        command += ["--allow-outside-paths"] if self.allow else []
        start = time.time()
        with open(tdir / "trial.log", "w", encoding="utf-8") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                code = process.wait()
            except BaseException:
                # Ctrl-C or SIGTERM: the trial stops with the sweep; the journal keeps it as
                # interrupted, and the next run of the pipeline runs it again.
                _stop(process)
                trial.status, trial.error = "interrupted", "the sweep was stopped while it ran"
                self.journal.put(trial)
                self.report()
                raise
        trial.seconds = time.time() - start
        self._record_result(trial, tdir, code, sweep.metric)
        self.journal.put(trial)
        self.report()
        outcome = (
            f"{sweep.metric} {trial.value:.4g}"
            if trial.value is not None
            else f"FAILED at {trial.stage}: {trial.error}"
        )
        if trial.status == "ok" and trial.value is None:
            outcome = f"ok, but {trial.error}"
        print(f"[trial {trial.label}] {outcome} ({format_duration(trial.seconds)})", flush=True)
        return trial

    @staticmethod
    def _record_result(trial: Trial, tdir: Path, code: int, metric: str) -> None:
        try:
            result = json.loads((tdir / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            trial.status, trial.stage = "failed", "process"
            trial.error = (
                f"the trial's process {how} before writing its result (a kill for lack of memory ends it this way); "
                f"see {tdir / 'trial.log'}."
            )
            return
        trial.status, trial.stage, trial.error = result["status"], result.get("stage", ""), result.get("error", "")
        trial.run_dir, trial.train_seconds = result.get("run_dir"), result.get("train_seconds")
        if trial.status != "ok":
            return
        try:
            metrics = json.loads((Path(trial.run_dir) / "metrics.json").read_text(encoding="utf-8"))["metrics"]
        except (OSError, ValueError, KeyError, TypeError):
            metrics = {}
        value = metrics.get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            trial.value = float(value)
        else:
            have = ", ".join(k for k, v in metrics.items() if isinstance(v, (int, float))) or "none"
            trial.error = (
                f"its metrics.json has no finite {metric!r} (it has: {have}); set sweep.metric to one of those"
            )


def _optuna_study(runner: _TrialRunner, folder: Path, stale: list) -> None:
    """Ask Optuna for trials until `trials` have finished; the study lives in optuna.journal."""
    try:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        from optuna.trial import TrialState
    except ImportError:
        raise GenkitError(
            f"sweep method optuna needs the optuna package, which is not installed: {OPTUNA_HINT}."
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep, journal = runner.pipeline.sweep, runner.journal
    folder.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(folder / "optuna.journal")))
    study = optuna.create_study(
        study_name=runner.pipeline.name, storage=storage, direction=sweep.direction, load_if_exists=True
    )
    # A new sampler seed per resumption: the same seed would draw the first trials' values again.
    study.sampler = optuna.samplers.TPESampler(seed=sweep.seed + len(study.trials))

    # Trials Optuna still has running were cut off by a kill: give it what the journal knows.
    mine = {t.optuna_number: t for t in journal.trials.values() if t.optuna_number is not None}
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        known = mine.get(frozen.number)
        if known is not None and known.status == "ok" and known.value is not None:
            study.tell(frozen.number, known.value)
        else:
            study.tell(frozen.number, state=TrialState.FAIL)

    again = sorted(stale, key=lambda t: t.number)
    while journal.finished() < sweep.trials:
        number = journal.next_number()
        if again:  # the interrupted trial first, with the values it had
            redo = again.pop(0)
            number = redo.number
            study.enqueue_trial(redo.params)
        trial = study.ask()
        params = {key: suggest(trial, key, param) for key, param in sweep.params.items()}
        done = runner.run(number, params, optuna_number=trial.number)
        if done.value is not None:
            study.tell(trial, done.value)
        else:
            study.tell(trial, state=TrialState.FAIL)


def _record(trial: Trial, run) -> RunRecord:
    status = "pending" if trial.status == "interrupted" else trial.status  # it runs again
    return RunRecord(
        label=trial.label,
        spec=source_label(run.loaded.path.resolve()),
        family=run.loaded.spec.model.family,
        data_source=run.loaded.spec.data.source,
        status=status,
        stage=trial.stage,
        error=trial.error if trial.status == "failed" else "",
        train_seconds=trial.train_seconds,
        seconds=trial.seconds,
        run_dir=Path(trial.run_dir) if trial.run_dir else None,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM stops the sweep as Ctrl-C does (the running trial's process is stopped too, and
    the journal marks it interrupted) rather than leaving that process running on its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
