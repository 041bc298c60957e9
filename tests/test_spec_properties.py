"""Property: whatever a person does to a shipped spec, `genkit validate` answers 0 or 2.

Hypothesis takes the YAML mapping of each shipped spec and applies one random edit —
delete a key or list item at any depth, rename a key, give a value another type (anywhere,
or a layer's keyword argument in particular), duplicate or drop an item of a layer list,
insert a new key — writes the result with
`yaml.safe_dump` and runs `genkit validate` in-process. Any exception escaping `main` fails
the test (that is a traceback for the user); the exit code must be 0 (valid, networks
built) or 2 (located errors on stderr), and validation writes nothing.

Generated numbers stay small (|int| <= 100, |float| <= 1000, plus nan/inf): a spec asking
for a Dense layer of 10**9 units is "valid" and would only measure the machine's memory.
Runs are derandomized (the same examples in CI every time) and capped at ~64 examples in
all, so the file stays within a couple of minutes: an edit caught by the schema returns in
milliseconds, one that leaves the spec valid builds its networks (about a second).
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genkit.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"
SPEC_NAMES = sorted(p.name for p in SPECS.glob("*.yaml"))
MAX_EXAMPLES = 64  # in all, across the shipped specs

# --------------------------------------------------------------------------- values
KEY_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)
SCALARS = st.one_of(
    st.integers(-3, 100),
    st.floats(-1000, 1000),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.text(max_size=10),
    st.booleans(),
    st.none(),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(KEY_TEXT, SCALARS, max_size=2),
)
KEYS = st.one_of(KEY_TEXT, st.integers(-2, 20))


# --------------------------------------------------------------------------- the spec tree
def all_paths(node, prefix=()):
    """Paths of every mapping entry and list item below `node` (not the root)."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return []
    out = []
    for key, value in items:
        out.append(prefix + (key,))
        out += all_paths(value, prefix + (key,))
    return out


def get(node, path):
    for part in path:
        node = node[part]
    return node


def layer_lists(spec):
    """Paths of every network's `layers` / `graph` list."""
    networks = spec.get("model", {}).get("networks", {}) if isinstance(spec.get("model"), dict) else {}
    return [
        ("model", "networks", role, body)
        for role, net in networks.items()
        if isinstance(net, dict)
        for body in ("layers", "graph")
        if isinstance(net.get(body), list) and net[body]
    ]


@st.composite
def mutated(draw, spec):
    """(description, mutated copy of `spec`) for one random edit."""
    spec = copy.deepcopy(spec)
    paths = all_paths(spec)
    key_paths = [p for p in paths if isinstance(get(spec, p[:-1]), dict)]
    dict_paths = [()] + [p for p in paths if isinstance(get(spec, p), dict)]
    lists = layer_lists(spec)
    # Keyword values of layers (model.networks.<role>.layers.<i>.<Layer>.<kw>, or a graph node's
    # keys): Keras validates these itself, least uniformly of all, so they get their own kind.
    layer_args = [p for p in paths if p[:2] == ("model", "networks") and len(p) >= 6]
    kinds = ["delete", "rename", "retype", "insert"]
    kinds += ["duplicate_layer", "drop_layer"] if lists else []
    kinds += ["retype_layer_argument"] if layer_args else []
    kind = draw(st.sampled_from(kinds))
    if kind == "delete":
        path = draw(st.sampled_from(paths))
        parent = get(spec, path[:-1])
        del parent[path[-1]]
    elif kind == "rename":
        path = draw(st.sampled_from(key_paths))
        parent, new = get(spec, path[:-1]), draw(KEY_TEXT)
        items = [(new if k == path[-1] else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
    elif kind in ("retype", "retype_layer_argument"):
        path = draw(st.sampled_from(paths if kind == "retype" else layer_args))
        value = draw(VALUES)
        get(spec, path[:-1])[path[-1]] = value
    elif kind == "insert":
        path = draw(st.sampled_from(dict_paths))
        key, value = draw(KEYS), draw(VALUES)
        get(spec, path)[key] = value
    else:
        path = draw(st.sampled_from(lists))
        items = get(spec, path)
        i = draw(st.integers(0, len(items) - 1))
        if kind == "duplicate_layer":
            items.insert(i, copy.deepcopy(items[i]))
        else:
            del items[i]
        path = path + (i,)
    return f"{kind} at {'.'.join(map(str, path)) or '<root>'}", spec


def _load(name):
    with open(SPECS / name, encoding="utf-8") as f:
        return yaml.safe_load(f)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=st.data())
def test_mutated_spec_exits_0_or_2_without_a_traceback(data, capsys):
    name = data.draw(st.sampled_from(SPEC_NAMES), label="spec")
    what, spec = data.draw(mutated(_load(name)), label="mutation")
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        Path("spec.yaml").write_text(text, encoding="utf-8")
        capsys.readouterr()
        rc = main(["validate", "spec.yaml"])  # an exception here is the failure being looked for
        out, err = capsys.readouterr()
        written = sorted(p.name for p in Path(tmp).iterdir() if p.name != "spec.yaml")
    context = f"{what}\n--- spec.yaml\n{text}--- stdout\n{out}--- stderr\n{err}"
    assert rc in (0, 2), context
    assert "Traceback" not in out + err, context
    if rc == 2:
        assert err.startswith("error: "), context
        for rejected in re.finditer(r"unknown key '([^']*)'\.( Did you mean [^\n]*)?", err):
            assert f"'{rejected.group(1)}'" not in (rejected.group(2) or ""), f"offers the rejected key itself\n{context}"
    else:
        assert "valid" in out, context
    assert written == [], f"validate wrote {written}\n{context}"


def test_unmutated_specs_are_valid(capsys):
    """Sanity: the starting points validate, so each failure above is the mutation's."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for name in SPEC_NAMES:
            Path("spec.yaml").write_text(yaml.safe_dump(_load(name), sort_keys=False), encoding="utf-8")
            assert main(["validate", "spec.yaml"]) == 0, capsys.readouterr().err
