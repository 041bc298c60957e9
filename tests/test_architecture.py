"""The architecture holds: stages import one way, families are independent, no cycles, no
private names across modules, and the TensorFlow-free parts stay free of TensorFlow.

The import contracts are declared in pyproject.toml ([tool.importlinter]); this test runs them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " 0 broken" in result.stdout


def _private_imports():
    """(module file, line, imported name) for every `from genkit.x import _name` between modules."""
    found = []
    for path in sorted((ROOT / "genkit").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genkit"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append((str(path.relative_to(ROOT)), node.lineno, f"{node.module}.{alias.name}"))
    return found


def test_no_private_names_cross_modules():
    assert _private_imports() == []


def test_reading_cards_and_specs_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from genkit.spec import load_spec\n"
        "from genkit.spec.card import cards\n"
        "from genkit.spec.starter import starter_spec\n"
        "for name in cards(): starter_spec(name)\n"
        "load_spec('specs/cvae_mnist.yaml')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
