"""The `shapes` source: coloured sprites drawn from known factors, deterministic, cached, and
carrying every factor beside its image through limit and splits."""

from __future__ import annotations

import numpy as np
import pytest

from genkit.data import load_data
from genkit.data.shapes import FACTOR_SPACE, PALETTE, POSITIONS, SCALES, SHAPES, render, shapes_factors
from genkit.errors import GenkitError
from genkit.spec.data_section import DataSpec

SHAPE, COLOUR, SCALE, ROTATION, X, Y = range(6)


def one(shape="square", colour="red", scale=5, rotation=0, x=5, y=5, size=32) -> np.ndarray:
    """One image, (size, size, 3) uint8, of the named shape and colour at the given value indices."""
    row = [SHAPES.index(shape), list(PALETTE).index(colour), scale, rotation, x, y]
    return render(np.array([row]), size)[0]


def coverage(image) -> np.ndarray:
    """The share of each pixel the shape covers: its brightest channel over the colour's (a fully covered pixel's)."""
    return image.max(axis=-1) / image.max()


def test_factor_space_describes_six_factors_and_shape_x_colour_classes():
    assert FACTOR_SPACE.names == ("shape", "colour", "scale", "rotation", "x", "y")
    assert FACTOR_SPACE.sizes == (4, 6, 6, 16, 12, 12)
    rows = np.array([[2, 5, 0, 0, 0, 0], [0, 1, 3, 3, 3, 3]])
    assert FACTOR_SPACE.joint_classes(rows).tolist() == [2 * 6 + 5, 1] and FACTOR_SPACE.categorical_columns == (0, 1)
    assert FACTOR_SPACE.describe_joint() == "shape x colour (4 x 6 = 24 classes)"


def test_train_and_test_draw_distinct_combinations_and_test_ignores_train_size():
    train, test = shapes_factors(3000, 500, seed=0)
    _, same_test = shapes_factors(100, 500, seed=0)
    combos = lambda rows: set(map(tuple, rows.tolist()))

    assert train.shape == (3000, 6) and train.dtype == np.int32
    assert len(combos(train)) == 3000 and not combos(train) & combos(test)
    assert np.array_equal(test, same_test)
    assert (train.max(axis=0) == np.array(FACTOR_SPACE.sizes) - 1).all() and train.min() == 0


def test_colour_is_the_palette_colour_on_black():
    for name, rgb in PALETTE.items():
        image = one("square", name)
        inner = image[coverage(image) == 1.0]
        assert len(inner) > 20 and (inner == rgb).all()
    assert (one()[0] == 0).all()  # black background


def test_edges_are_antialiased():
    values = coverage(one("ellipse", rotation=3, size=64))
    partial = (values > 0.05) & (values < 0.95)
    assert partial.sum() > 40  # a ring of partly covered pixels, not a hard 0/1 edge


def test_scale_and_position_move_and_grow_the_shape():
    small, large = coverage(one(scale=0)), coverage(one(scale=5))
    assert large.sum() / small.sum() == pytest.approx((SCALES[5] / SCALES[0]) ** 2, rel=0.1)  # area ~ scale^2
    for x, y in [(0, 0), (11, 4), (6, 11)]:
        image = coverage(one("heart", x=x, y=y, size=64))
        rows, cols = np.indices(image.shape) + 0.5
        centre = (np.sum(cols * image) / image.sum(), np.sum(rows * image) / image.sum())
        assert np.allclose(centre, (POSITIONS[x] * 64, POSITIONS[y] * 64), atol=1.0)  # the heart's centroid
    assert coverage(one(x=0, y=0)).sum() == pytest.approx(coverage(one(x=11, y=11)).sum(), rel=0.02)


def test_rotation_turns_the_shape_counter_clockwise():
    # A square looks the same after a quarter turn, a heart does not; a half turn puts the heart's tip on top.
    assert np.abs(one("square", rotation=0).astype(int) - one("square", rotation=4)).max() <= 1
    upright, upside_down = coverage(one("heart", rotation=0, size=64)), coverage(one("heart", rotation=8, size=64))
    assert np.abs(upright - upside_down).sum() > 50

    def reach_below_and_above(image):  # rows from the centroid to the lowest and to the highest covered pixel
        rows = np.flatnonzero(image.sum(axis=1) > 0.05)
        centre = np.sum(np.arange(len(image))[:, None] * image) / image.sum()
        return rows[-1] - centre, centre - rows[0]

    below, above = reach_below_and_above(upright)
    assert below > above + 2  # the tip points down
    below, above = reach_below_and_above(upside_down)
    assert above > below + 2  # and up after half a turn
    # An eighth of a turn counter-clockwise (on the screen) takes the triangle's top corner up and to the left.
    def top_corner_left_of_centre(image):
        row = int(np.argmax(image.sum(axis=1) > 0.05))  # the topmost covered row: the corner's
        centre = np.sum(np.arange(image.shape[1]) * image) / image.sum()
        return centre - np.sum(np.arange(image.shape[1]) * image[row]) / image[row].sum()

    assert abs(top_corner_left_of_centre(coverage(one("triangle", rotation=0, size=64)))) < 1
    assert top_corner_left_of_centre(coverage(one("triangle", rotation=2, size=64))) > 5


def test_every_shape_differs_from_every_other():
    images = [coverage(one(shape, scale=5, size=64)) for shape in SHAPES]
    for i in range(len(SHAPES)):
        for j in range(i):
            assert np.abs(images[i] - images[j]).sum() > 60, (SHAPES[i], SHAPES[j])


def test_load_data_keeps_factors_beside_images_through_limit_and_splits():
    data = load_data(DataSpec(source="shapes", image_size=32, labels=True, limit=300, validation_split=0.2), seed=3)

    assert data.shape == (32, 32, 3) and data.num_classes == 4 and data.factor_names == FACTOR_SPACE.names
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (240, 60, 100)
    for x, y, factors in [(data.x_train, data.y_train, data.factors_train), (data.x_val, data.y_val, data.factors_val), (data.x_test, data.y_test, data.factors_test)]:
        assert factors.shape == (len(x), 6) and np.array_equal(factors[:, SHAPE], y)
        assert np.array_equal(np.rint(x * 255).astype(np.uint8), render(factors, 32))  # each row draws its image
    assert "shapes from genkit shapes" in data.describe() and "4 classes" in data.describe()


def test_same_spec_same_images_from_the_cache_and_other_seed_other_images(monkeypatch, tmp_path):
    monkeypatch.setenv("GENKIT_CACHE", str(tmp_path))
    spec = DataSpec(source="shapes", image_size=16, shapes={"train_size": 500, "test_size": 50})
    first = load_data(spec, 0)
    (entry,) = (tmp_path / "data").iterdir()
    assert entry.name == "shapes-1-16px-500+50-seed0"  # generator version, size, counts, seed
    again = load_data(spec, 0)  # read back from the cache
    assert np.array_equal(first.x_test, again.x_test) and np.array_equal(first.factors_train, again.factors_train)
    other = load_data(spec.model_copy(update={"shapes": spec.shapes.model_copy(update={"seed": 1})}), 0)
    assert not np.array_equal(first.factors_test, other.factors_test)
    # The spec seed draws the validation split, never the data set: the test images stay.
    assert np.array_equal(first.x_test, load_data(spec, 5).x_test)


def test_more_images_than_combinations_is_an_error_naming_the_field():
    with pytest.raises(GenkitError, match=r"data.shapes: train_size 331,000 \+ test_size 2,000 exceeds"):
        load_data(DataSpec(source="shapes", shapes={"train_size": 331_000}), 0)


@pytest.mark.parametrize("size", [[32, 40], [8, 8]])
def test_shapes_need_a_square_of_sixteen_pixels_or_more(size):
    with pytest.raises(GenkitError, match="data.image_size: shapes are drawn on a square"):
        load_data(DataSpec(source="shapes", image_size=size), 0)


def test_feature_extractor_on_shapes_has_a_shape_head_and_a_colour_head(tmp_path):
    """genkit's CNN for shapes learns shape and colour (so FID sees colour) and still answers shape labels.

    Plumbing only (one epoch on 600 images); benchmarks/shapes_feature_space.py measures what the
    fully trained feature space sees (FID x6.5 the floor for off-palette colours, x180 for one colour).
    """
    from genkit.evaluate.features import get_extractor

    data = load_data(DataSpec(source="shapes", image_size=16, labels=True, limit=600, shapes={"train_size": 1000, "test_size": 200}), 0)
    extractor = get_extractor(data, cache_dir=tmp_path, epochs=1)

    assert extractor.heads == (4, 6) and extractor.label_head == 0 and extractor.num_modes == 24
    assert extractor.meta["heads"]["classes"] == "shape x colour (4 x 6 = 24 classes)"
    assert "heads for shape x colour" in extractor.describe()
    labels, modes = extractor.predict(data.x_test), extractor.predict_modes(data.x_test)
    assert labels.max() < 4 and modes.max() < 24 and np.array_equal(modes // 6, labels)  # mode = shape * 6 + colour
    scores = extractor.classifier.predict(data.x_test, verbose=0)
    assert scores.shape == (len(data.x_test), 4) and np.array_equal(scores.argmax(axis=1), labels)
    reloaded = get_extractor(data, cache_dir=tmp_path, epochs=1)
    assert reloaded.heads == (4, 6) and reloaded.accuracy == extractor.accuracy
