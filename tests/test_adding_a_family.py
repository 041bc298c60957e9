"""docs/adding-a-family.md is true: its two files make a family that validates, trains, exports and samples.

The worked example's card and model are copied out of the page into a folder beside
genkit/families/ (the package's search path is extended, as if they had been added there), and
nothing else is touched: the schema, rules, starter, trainer and exporter pick the family up
from its card.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import genkit.families
from genkit.spec.card import cards, family_names

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "adding-a-family.md"


def page_files() -> dict:
    """path -> text of every code block on the page whose first line is a `# <path>` comment."""
    blocks = re.findall(r"```(?:python|yaml)\n(# (\S+)\n.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    return {path: text for text, path in blocks}


@pytest.fixture
def wae_family(tmp_path, monkeypatch):
    files = page_files()
    folder = tmp_path / "families" / "wae"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text('"""The wae family (from docs/adding-a-family.md)."""\n')
    for name in ("card.py", "model.py"):
        (folder / name).write_text(files[f"genkit/families/wae/{name}"])
    monkeypatch.setattr(genkit.families, "__path__", [*genkit.families.__path__, str(tmp_path / "families")])
    cards.cache_clear()
    yield files
    for module in [m for m in sys.modules if m.startswith("genkit.families.wae")]:
        del sys.modules[module]
    monkeypatch.undo()
    cards.cache_clear()


def test_the_page_shows_a_card_a_model_and_a_spec():
    assert set(page_files()) == {"genkit/families/wae/card.py", "genkit/families/wae/model.py", "specs/wae_mnist.yaml"}


def test_the_example_family_validates_trains_exports_and_samples(wae_family, tmp_path, monkeypatch):
    from genkit.cli import main
    from genkit.runtime import Sampler
    from genkit.spec import validate_dict
    from genkit.spec.starter import starter_spec
    from genkit.train import prepare

    assert "wae" in family_names()
    # The page's spec and the starter `genkit new wae` writes both validate.
    raw = yaml.safe_load(wae_family["specs/wae_mnist.yaml"])
    validate_dict(raw)
    validate_dict(yaml.safe_load(starter_spec("wae")))

    raw["data"].update(limit=96, validation_split=0.25, batch_size=16)
    raw["train"].update(epochs=1, steps_per_epoch=3, tensorboard=False, sample_every=0)
    raw["evaluate"] = {"metrics": ["reconstruction"], "samples": 16}
    prep = prepare(validate_dict(raw), quiet=True)
    batch = next(iter(prep.data.train_dataset(16, shuffle=False)))
    logs = [prep.model.train_step(batch) for _ in range(20)]
    assert float(logs[-1]["loss"]) < 0.9 * float(logs[0]["loss"])
    assert np.isfinite(float(logs[-1]["mmd"]))

    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "wae.yaml"
    spec.write_text(yaml.safe_dump(raw))
    assert main(["run", str(spec)]) == 0
    images, labels = Sampler(tmp_path / "exports" / "wae_mnist").sample(4, seed=0)
    assert images.shape == (4, 28, 28, 1) and labels is None
    assert np.all((0.0 <= images) & (images <= 1.0))
