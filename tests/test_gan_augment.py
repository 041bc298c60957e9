"""DiffAugment (genkit.augment) and the gan family's loss.diff_augment and loss.r1_gamma."""

import numpy as np
import pytest
import tensorflow as tf

from genkit.augment import cutout, diff_augment, translate
from genkit.replica_seed import ReplicaSeedGenerator
from genkit.spec import validate_dict
from genkit.train import prepare
from tiny import tiny_gan_spec


def dot_images(n=8, size=16):
    """n images on background -1 with one bright pixel in the middle."""
    images = -np.ones((n, size, size, 1), "float32")
    images[:, size // 2, size // 2, 0] = 1.0
    return tf.constant(images)


def test_translation_moves_each_image_by_at_most_an_eighth_and_fills_with_the_background():
    out = translate(dot_images(64), ReplicaSeedGenerator(1), fill=-1.0).numpy()
    assert out.shape == (64, 16, 16, 1)
    assert set(np.unique(out)) <= {-1.0, 1.0} and (out == 1.0).sum(axis=(1, 2, 3)).tolist() == [1] * 64
    rows, cols = np.nonzero(out[..., 0] == 1.0)[1:]
    assert np.abs(rows - 8).max() <= 2 and np.abs(cols - 8).max() <= 2  # 16 / 8 = 2
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # each image its own shift


def test_cutout_blanks_one_square_of_half_the_side_inside_the_image():
    out = cutout(tf.ones((32, 16, 16, 1)), ReplicaSeedGenerator(2), fill=-1.0).numpy()
    blanked = (out == -1.0).sum(axis=(1, 2, 3))
    assert blanked.max() == 64 and blanked.min() >= 1  # 8 x 8 when wholly inside, clipped at the edges
    for image in out[..., 0]:
        rows, cols = np.nonzero(image == -1.0)
        assert (image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] == -1.0).all()  # one rectangle


def test_gradients_flow_through_the_transforms_and_no_policy_is_the_identity():
    x = tf.Variable(tf.random.normal((4, 16, 16, 1)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(diff_augment(x, ("translation", "cutout"), ReplicaSeedGenerator(3)))
    grad = tape.gradient(loss, x).numpy()
    assert set(np.unique(grad)) == {0.0, 1.0}  # pixels shifted out or cut have no gradient, the rest 1
    assert diff_augment(x, (), ReplicaSeedGenerator(3)) is x


@pytest.mark.parametrize("family", ["gan", "cgan"])
def test_a_gan_with_diff_augment_and_r1_trains_and_logs_the_penalty(family):
    spec = validate_dict(tiny_gan_spec(family, **{"loss.diff_augment": ["translation", "cutout"], "loss.r1_gamma": 10.0}))
    prep = prepare(spec, quiet=True)
    batch = next(iter(prep.data.train_dataset(spec.data.batch_size, shuffle=False)))
    logs = [prep.model.train_step(batch) for _ in range(2)]
    assert float(logs[-1]["r1"]) > 0.0 and all(np.isfinite(float(v)) for v in logs[-1].values())


def test_an_unknown_policy_is_refused_naming_the_field():
    from genkit.errors import SpecError

    with pytest.raises(SpecError) as info:
        validate_dict(tiny_gan_spec("gan", **{"loss.diff_augment": ["color"]}))
    assert any(p.path[:2] == ("loss", "diff_augment") for p in info.value.problems)
