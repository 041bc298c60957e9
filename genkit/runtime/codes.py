"""Latent codes beside z (InfoGAN): lay them out, draw them, set them and read them back, NumPy only.

An InfoGAN generator reads one latent vector [z, c_1, ..., c_L] (manifest `codes`, see
`genkit.manifest`): z is `noise_dim` numbers from the export's prior, then each code fills its
slice — a categorical code one-hot over its `size` values, a continuous code one number. The
priors are the ones the model trained with: uniform over a categorical code's values, U(low, high)
for a continuous code. The recognition network (Q) predicts the codes of an image: logits for a
categorical code, a mean for a continuous one.

Every code is drawn from the random generator in declared order whether or not it is given, so
with one seed, `codes={"digit": 3}` and `codes={"digit": 5}` draw the same z and other codes.

Example:
    codes = LatentCodes.from_manifest(manifest)
    values = codes.draw(rng, 8, {"digit": 3, "c1": -1.0})   # {"digit": (8,) int, "c1": (8,) float, ...}
    latent = codes.fill(z, values)                           # z: (8, latent_dim) from the prior
"""

from __future__ import annotations

import numpy as np

from genkit.errors import GenkitError, did_you_mean

__all__ = ["LatentCodes", "code_variables", "parse_code_flags"]


def code_variables(noise_dim: int, declared, low: float = -1.0, high: float = 1.0) -> list[dict]:
    """The manifest's `codes.variables` for codes declared as (name, kind, size) after `noise_dim` noise numbers.

    A continuous code is one number from U(`low`, `high`) (its size is ignored); a categorical
    code takes `size` numbers, one-hot.
    """
    variables, start = [], noise_dim
    for name, kind, size in declared:
        width = size if kind == "categorical" else 1
        prior = {"kind": "uniform_categorical"} if kind == "categorical" else {"kind": "uniform", "low": low, "high": high}
        variables.append({"name": name, "kind": kind, "size": width, "slice": [start, start + width], "prior": prior})
        start += width
    return variables


def parse_code_flags(flags) -> dict:
    """`["digit=3", "c1=-1.0"]` (repeated `--code NAME=VALUE`) -> {"digit": "3", "c1": "-1.0"}; values stay text."""
    given = {}
    for flag in flags or []:
        name, sep, value = flag.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise GenkitError(f"--code {flag!r}: expected NAME=VALUE, e.g. --code digit=3 or --code c1=-1.5.")
        if name in given:
            raise GenkitError(f"--code {name} is given twice ({given[name]} and {value}); give each code once.")
        given[name] = value
    return given


class LatentCodes:
    """The codes of one export: their slices of the generator's input, priors and recognition outputs.

    Args:
        noise_dim: numbers of z before the first code.
        variables: `codes.variables` of the manifest (`code_variables` makes them).
        recognition: `codes.recognition` (network, image_input, outputs by code name), or None.
        owner: the export's name, for messages.
    """

    def __init__(self, noise_dim: int, variables: list[dict], recognition: dict | None = None, owner: str = "this export"):
        self.noise_dim = int(noise_dim)
        self.variables = [dict(v) for v in variables]
        self.recognition = recognition
        self.owner = owner
        self.latent_dim = self.variables[-1]["slice"][1] if self.variables else self.noise_dim

    @classmethod
    def from_manifest(cls, manifest: dict) -> LatentCodes:
        section = manifest["codes"]
        return cls(section["noise_dim"], section["variables"], section.get("recognition"), manifest["name"])

    @property
    def names(self) -> list[str]:
        return [v["name"] for v in self.variables]

    def describe(self) -> str:
        """e.g. "digit (categorical, 0..9), c1 (continuous, U(-1, 1))"."""
        def one(v):
            if v["kind"] == "categorical":
                return f"{v['name']} (categorical, 0..{v['size'] - 1})"
            return f"{v['name']} (continuous, U({v['prior']['low']:g}, {v['prior']['high']:g}))"

        return ", ".join(one(v) for v in self.variables)

    # ------------------------------------------------------------------ values
    def check(self, given: dict | None, n: int) -> dict:
        """`given` (name -> a value for every sample, or one per sample; CLI text is parsed) as arrays `(n,)`."""
        known = {v["name"]: v for v in self.variables}
        checked = {}
        for name, value in (given or {}).items():
            if name not in known:
                raise GenkitError(
                    f"{self.owner} has no code named {name!r}; its codes are {self.describe()}. {did_you_mean(name, list(known))}"
                )
            checked[name] = self._values(known[name], value, n)
        return checked

    def _values(self, variable: dict, value, n: int) -> np.ndarray:
        name, categorical = variable["name"], variable["kind"] == "categorical"
        if isinstance(value, str):
            value = _parse(value, categorical, name, variable)
        array = np.asarray(value)
        if array.ndim == 0:
            array = np.full(n, array)
        kinds = "iu" if categorical else "iuf"  # integer classes; numbers (a bool is neither)
        if array.shape != (n,) or array.dtype.kind not in kinds:
            what = "an integer class" if categorical else "a number"
            raise GenkitError(f"code {name!r}: expected {what}, or one per sample ({n},); got {array.dtype} {array.shape}.")
        if categorical:
            bad = array[(array < 0) | (array >= variable["size"])]
            if bad.size:
                raise GenkitError(f"code {name!r} takes the classes 0..{variable['size'] - 1}; got {int(bad[0])}.")
            return array.astype(np.int64)
        if not np.isfinite(array).all():
            raise GenkitError(f"code {name!r} must be a finite number; got {array[~np.isfinite(array)][0]}.")
        return array.astype(np.float64)

    def draw(self, rng: np.random.Generator, n: int, given: dict | None = None) -> dict:
        """name -> `(n,)` values: each code from its prior (in declared order, always), then `given` ones set."""
        values = {}
        for v in self.variables:
            if v["kind"] == "categorical":
                values[v["name"]] = rng.integers(0, v["size"], n)
            else:
                values[v["name"]] = rng.uniform(v["prior"]["low"], v["prior"]["high"], n)
        return {**values, **self.check(given, n)}

    def fill(self, latent, values: dict) -> np.ndarray:
        """`latent` `(n, latent_dim)` with each code's slice set from `values` (one-hot for categorical codes)."""
        latent = np.array(latent, dtype=np.float32)  # a copy: z stays as drawn
        for v in self.variables:
            start, stop = v["slice"]
            value = values[v["name"]]
            if v["kind"] == "categorical":
                latent[:, start:stop] = np.eye(v["size"], dtype=np.float32)[value]
            else:
                latent[:, start] = value
        return latent

    def read(self, outputs: dict) -> dict:
        """The recognition network's outputs (output name -> array) as name -> `(N,)` class index or mean."""
        read = {}
        for v in self.variables:
            out = self.recognition["outputs"].get(v["name"]) if self.recognition else None
            if out is None:
                continue
            value = np.asarray(outputs[out])
            read[v["name"]] = np.argmax(value, axis=-1) if v["kind"] == "categorical" else value.reshape(len(value))
        return read


def _parse(text: str, categorical: bool, name: str, variable: dict):
    try:
        return int(text) if categorical else float(text)
    except ValueError:
        expected = f"a class 0..{variable['size'] - 1}" if categorical else "a number such as -1.5"
        raise GenkitError(f"--code {name}={text}: code {name!r} is {variable['kind']}; expected {expected}.") from None
