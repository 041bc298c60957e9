"""docs/quickstart.ipynb runs top to bottom in a fresh Jupyter kernel: the Python API as a notebook uses it."""

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "quickstart.ipynb"
# TensorFlow's own start-up and runtime lines, which genkit keeps out of a notebook too.
NOISE = ("oneDNN custom operations", "Could not find cuda drivers", "cpu_feature_guard", "E0000", "W0000")


def test_quickstart_notebook_trains_evaluates_exports_samples_and_plots(tmp_path):
    # The notebook runs from the repository folder; here a folder with the one spec it reads.
    (tmp_path / "specs").mkdir()
    shutil.copy(REPO / "specs" / "cvae_mnist.yaml", tmp_path / "specs")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
    errors = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "TensorFlow imported: False" in printed  # `import genkit` did not import it
    assert "model.latent_dimm: unknown key 'latent_dimm'. Did you mean 'latent_dim'?" in printed
    assert "(40, 28, 28, 1) float32 [0 1 2 3 4 5 6 7 8 9]" in printed
    assert not [line for line in errors.splitlines() if any(noise in line for noise in NOISE)], errors
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 2  # the loss curve and the grid of digits
    (run_dir,) = (tmp_path / "runs" / "quickstart_cvae").iterdir()
    assert (run_dir / "metrics.json").is_file() and (tmp_path / "exports" / "quickstart_cvae" / "manifest.json").is_file()
