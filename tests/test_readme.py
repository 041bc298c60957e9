"""The README tells the truth about the shipped files: its spec excerpt is the shipped spec, its
commands table names every command, and every spec or pipeline it names exists."""

import re
from pathlib import Path

import yaml

from genkit.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def excerpt_of(path: str) -> dict:
    """The YAML block that follows 'From `path`:' in the README, its `- ...` elisions dropped."""
    after = README[re.search(rf"From\s+`{re.escape(path)}`:", README).end() :]
    start = after.index("```yaml\n") + len("```yaml\n")
    block = after[start : after.index("\n```", start)]
    return yaml.safe_load("\n".join(line for line in block.splitlines() if line.strip() != "- ..."))


def contained(part, whole, where="") -> list:
    """Where `part` differs from `whole`: mappings by key, lists as a prefix (the rest elided)."""
    if isinstance(part, dict):
        if not isinstance(whole, dict):
            return [f"{where}: README has a mapping, the spec {whole!r}"]
        return [f"{where}.{k}: not in the spec" for k in part if k not in whole] + [
            d for k in part if k in whole for d in contained(part[k], whole[k], f"{where}.{k}")
        ]
    if isinstance(part, list) and isinstance(whole, list) and len(part) <= len(whole):
        return [d for i, item in enumerate(part) for d in contained(item, whole[i], f"{where}[{i}]")]
    return [] if part == whole else [f"{where}: README says {part!r}, the spec {whole!r}"]


def test_the_spec_excerpt_is_the_shipped_spec():
    shipped = yaml.safe_load((ROOT / "specs" / "cvae_mnist.yaml").read_text())
    assert contained(excerpt_of("specs/cvae_mnist.yaml"), shipped) == []


def test_the_excerpt_check_catches_a_changed_number():
    shipped = yaml.safe_load((ROOT / "specs" / "cvae_mnist.yaml").read_text())
    stale = excerpt_of("specs/cvae_mnist.yaml")
    stale["train"]["epochs"] = 20  # what the README said while the spec said 30
    assert contained(stale, shipped) == [".train.epochs: README says 20, the spec 30"]


def test_the_commands_table_names_every_command():
    (commands,) = [a for a in build_parser()._subparsers._group_actions if a.choices]
    table = README[README.index("## Commands") :]
    missing = [name for name in commands.choices if f"`genkit {name}" not in table]
    assert missing == []


def test_every_spec_and_pipeline_the_readme_names_exists():
    named = set(re.findall(r"\b((?:specs|pipelines)/[A-Za-z0-9_]{2,}\.yaml)", README))  # x.yaml, P.yaml: placeholders
    assert named, "the README names no spec"
    assert sorted(p for p in named if not (ROOT / p).is_file()) == []


def test_ci_runs_exactly_the_readmes_test_command():
    second_block = README.split("```bash\n")[2].split("\n```")[0].strip()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert "pytest" in second_block and ci == second_block
