"""A quick stand-in for `genkit.pipeline.sweep_trial` in tests: no TensorFlow, a made-up metric.

Reads the trial's --set values, writes a run folder with metrics.json ({"neg_elbo":
10 * loss.kl_weight + model.latent_dim}) and result.json, as the real trial does. A trial
with model.latent_dim 3 kills itself with SIGKILL first, as an out-of-memory kill would.
"""

import argparse
import json
import os
import signal
from pathlib import Path

import yaml

parser = argparse.ArgumentParser()
parser.add_argument("spec")
parser.add_argument("--result", required=True)
parser.add_argument("--set", action="append", default=[])
parser.add_argument("--allow-outside-paths", action="store_true")
args = parser.parse_args()
values = {}
for text in args.set:
    key, value = text.split("=", 1)
    values[key] = yaml.safe_load(value)
if values["model.latent_dim"] == 3:
    os.kill(os.getpid(), signal.SIGKILL)
run_dir = Path(values["runs_dir"]) / "fake" / "run"
run_dir.mkdir(parents=True)
metric = 10 * values["loss.kl_weight"] + values["model.latent_dim"]
(run_dir / "metrics.json").write_text(json.dumps({"metrics": {"neg_elbo": metric, "loss": -metric}}))
Path(args.result).write_text(json.dumps({"status": "ok", "stage": "", "run_dir": str(run_dir), "train_seconds": 0.1}))
