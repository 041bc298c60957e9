"""Ground-truth factors of a generated data set: what each image was made from.

A source that generates its images (`shapes`) knows, for every image, the value of every
factor of variation (its shape, colour, scale, ...). It returns them beside the images, as an
(N, F) int32 array per split whose column f holds the *index* of factor f's value, and one
`FactorSpace` that names the factors and lists their values. `load_data` keeps the rows
aligned with the images through `data.limit`, `data.exclude_classes` and the validation
split, so that `Dataset.factors_train`, `factors_val` and `factors_test` describe exactly
`x_train`, `x_val` and `x_test`.

Disentanglement metrics (MIG, DCI, SAP: Chen et al. 2018, Eastwood & Williams 2018, Kumar et
al. 2018) read the integer indices, which are discrete factors as those metrics expect;
`space.values[f][factors[:, f]]` gives the values themselves (e.g. degrees of rotation).

Example:

    data = load_data(spec.data, spec.seed)          # data.source: shapes
    space = data.factor_space                       # None for sources without factors
    space.names                                     # ('shape', 'colour', 'scale', 'rotation', 'x', 'y')
    space.sizes                                     # (4, 6, 6, 16, 12, 12)
    scale = space.values_of(data.factors_test, "scale")   # (N,) float, 0.6 .. 1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FactorSpace"]


@dataclass(frozen=True, eq=False)
class FactorSpace:
    """The factors of variation of a data set: names, the values each takes, which are categorical.

    Attributes:
        names: one name per factor, in the column order of the factor arrays.
        values: per factor, the (K_f,) array of the values it takes; a factor array holds
            indices 0..K_f-1 into it.
        categorical: per factor, whether its values are unordered categories (a shape, a
            colour) rather than points on a scale (a size, an angle, a position).
        label: the factor the integer labels are (`y` == that factor's index column).
        value_names: per factor, a name for each value, or () when the values speak for
            themselves (e.g. ("square", "ellipse", "heart", "triangle") for the shape).
    """

    names: tuple
    values: tuple
    categorical: tuple
    label: str
    value_names: tuple = ()

    @property
    def sizes(self) -> tuple:
        """Number of values of each factor, e.g. (4, 6, 6, 16, 12, 12)."""
        return tuple(len(v) for v in self.values)

    def index(self, name: str) -> int:
        """Column of factor `name` in the factor arrays."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no factor {name!r}; the factors are {', '.join(self.names)}") from None

    def values_of(self, factors: np.ndarray, name: str) -> np.ndarray:
        """The value of factor `name` for each row of an (N, F) factor array."""
        f = self.index(name)
        return np.asarray(self.values[f])[factors[:, f]]

    @property
    def categorical_columns(self) -> tuple:
        """Columns of the categorical factors, e.g. (0, 1) for shape and colour."""
        return tuple(f for f, is_category in enumerate(self.categorical) if is_category)

    def joint_classes(self, factors: np.ndarray) -> np.ndarray:
        """(N,) int32: one class per combination of the categorical factors, e.g. shape x colour = 24,
        numbered in C order of those factors (class = shape * 6 + colour)."""
        columns = self.categorical_columns
        return np.ravel_multi_index(tuple(factors[:, f] for f in columns), [self.sizes[f] for f in columns]).astype(np.int32)

    def describe_joint(self) -> str:
        """The categorical factors in words, e.g. "shape x colour (4 x 6 = 24 classes)"."""
        columns = self.categorical_columns
        sizes = [self.sizes[f] for f in columns]
        names = " x ".join(self.names[f] for f in columns)
        return f"{names} ({' x '.join(map(str, sizes))} = {int(np.prod(sizes))} classes)"
