"""Disentangling VAEs: the β-TCVAE estimator and loss option, annealed capacity, traversals sorted by KL.

The vae family's contract (build, train, resume, export, sample) is in test_family_contract.py.
"""

import math

import numpy as np
import pytest
from scipy.special import logsumexp
from tiny import tiny_spec

from genkit.errors import GenkitError, SpecError
from genkit.losses import kl_decomposition, kl_divergence_normal_per_unit
from genkit.modeling.build import build_family
from genkit.spec import validate_dict
from genkit.train import prepare

CAPACITY = {"loss.kl_warmup_epochs": 0, "loss.kl_capacity": {"max_nats": 10.0, "epochs": 2, "weight": 100.0}}


def first_batch(prep):
    return next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))


def normal_log_density(z, mean, log_var):
    return -0.5 * (np.log(2 * np.pi) + log_var + (z - mean) ** 2 / np.exp(log_var))


# --------------------------------------------------------------------------- the estimator
def numpy_decomposition(z, mean, log_var):
    """Minibatch-weighted sampling written out one example and one dimension at a time."""
    m, d = z.shape
    mi, tc, dwkl = [], [], []
    for i in range(m):
        joint = [sum(normal_log_density(z[i, j], mean[k, j], log_var[k, j]) for j in range(d)) for k in range(m)]
        log_q_z = logsumexp(joint) - math.log(m)
        marginals = sum(
            logsumexp([normal_log_density(z[i, j], mean[k, j], log_var[k, j]) for k in range(m)]) - math.log(m) for j in range(d)
        )
        log_q_given_x = sum(normal_log_density(z[i, j], mean[i, j], log_var[i, j]) for j in range(d))
        log_p = sum(normal_log_density(z[i, j], 0.0, 0.0) for j in range(d))
        mi.append(log_q_given_x - log_q_z)
        tc.append(log_q_z - marginals)
        dwkl.append(marginals - log_p)
    return np.mean(mi), np.mean(tc), np.mean(dwkl)


def tiny_posterior(seed=0, m=5, d=3):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(m, d)).astype("float32")
    log_var = rng.uniform(-1.5, 0.5, size=(m, d)).astype("float32")
    z = (mean + np.exp(0.5 * log_var) * rng.normal(size=(m, d))).astype("float32")
    return z, mean, log_var


def test_minibatch_weighted_estimates_match_a_numpy_computation():
    z, mean, log_var = tiny_posterior()
    got = [float(v) for v in kl_decomposition(z, mean, log_var)]
    np.testing.assert_allclose(got, numpy_decomposition(z, mean, log_var), rtol=1e-4, atol=1e-4)


def test_the_three_terms_sum_to_the_one_draw_kl():
    z, mean, log_var = tiny_posterior(seed=1, m=6, d=4)
    mi, tc, dwkl = (float(v) for v in kl_decomposition(z, mean, log_var))
    one_draw_kl = np.mean(np.sum(normal_log_density(z, mean, log_var) - normal_log_density(z, 0.0, 0.0), axis=1))
    assert mi + tc + dwkl == pytest.approx(one_draw_kl, abs=1e-4)


def test_a_collapsed_code_scores_zero_on_every_term():
    """Every posterior N(0, I): q(z|x) = q(z) = Π_j q(z_j) = p(z), so I = TC = dimension-wise KL = 0."""
    z = np.random.default_rng(3).normal(size=(16, 5)).astype("float32")
    zeros = np.zeros_like(z)
    np.testing.assert_allclose([float(v) for v in kl_decomposition(z, zeros, zeros)], [0.0, 0.0, 0.0], atol=1e-5)


def test_independent_posteriors_have_less_total_correlation_than_dependent_ones():
    """Means spread along one diagonal make the latents dependent across the batch; the estimate sees it."""
    rng = np.random.default_rng(2)
    log_var = np.full((64, 2), -4.0, "float32")
    independent = rng.normal(size=(64, 2)).astype("float32")
    diagonal = np.repeat(rng.normal(size=(64, 1)), 2, axis=1).astype("float32")
    tc = [float(kl_decomposition(m, m, log_var)[1]) for m in (independent, diagonal)]
    assert tc[1] > tc[0] + 1.0


# --------------------------------------------------------------------------- β-TCVAE in the vae family
def test_a_tcvae_step_logs_the_decomposition_and_weights_total_correlation():
    prep = prepare(validate_dict(tiny_spec("vae", **{"loss.kl_warmup_epochs": 0, "loss.total_correlation_weight": 6.0})), quiet=True)
    model = prep.model
    logs = {k: float(v) for k, v in model.train_step(first_batch(prep)).items()}
    assert {"mutual_information", "total_correlation", "dimension_wise_kl"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    # loss = reconstruction + β·KL + (β_TC − β)·TC with β = 1: the step's tracked means are its own values.
    expected = logs["reconstruction"] + logs["kl"] + 5.0 * logs["total_correlation"]
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    val = model.test_step(first_batch(prep))
    assert "total_correlation" in val


def test_without_the_option_a_vae_step_logs_no_decomposition():
    prep = prepare(validate_dict(tiny_spec("vae")), quiet=True)
    logs = prep.model.train_step(first_batch(prep))
    assert not {"mutual_information", "total_correlation", "dimension_wise_kl", "kl_capacity"} & set(logs)
    assert "kl_weight" in logs


def test_cvae_takes_the_tc_option_too():
    prep = prepare(validate_dict(tiny_spec("cvae", **{"loss.total_correlation_weight": 4.0})), quiet=True)
    logs = prep.model.train_step(first_batch(prep))
    assert np.isfinite(float(logs["total_correlation"]))


# --------------------------------------------------------------------------- annealed capacity
def test_capacity_rises_linearly_per_step_then_holds():
    prep = prepare(validate_dict(tiny_spec("vae", **CAPACITY)), quiet=True)
    import keras

    model = build_family(prep.spec, prep.data.shape, prep.data.num_classes, steps_per_epoch=5)  # C_max after 10 steps
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    values = {}
    for step in (0, 1, 5, 10, 25):
        model.optimizer.iterations.assign(step)
        values[step] = float(model.current_capacity())
    assert values == pytest.approx({0: 0.0, 1: 1.0, 5: 5.0, 10: 10.0, 25: 10.0})
    model.optimizer.iterations.assign(4)
    logs = {k: float(v) for k, v in model.train_step(first_batch(prep)).items()}
    assert logs["kl_capacity"] == pytest.approx(4.0) and "kl_weight" not in logs
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + 100.0 * abs(logs["kl"] - 4.0), rel=1e-5)


def test_capacity_resumes_from_a_checkpoint_where_it_was(tmp_path):
    from genkit.train.checkpoint import load_with_optimizer, save_checkpoint

    spec = validate_dict(tiny_spec("vae", **CAPACITY))
    prep = prepare(spec, quiet=True)
    batch = first_batch(prep)
    for _ in range(3):
        prep.model.train_step(batch)
    folder = save_checkpoint(prep.model, tmp_path, epoch=0, extra={}, step=3)
    twin = prepare(spec, quiet=True).model
    load_with_optimizer(twin, folder / "model.weights.h5")
    assert float(twin.current_capacity()) == float(prep.model.current_capacity()) > 0.0
    prep.model.reset_metrics()  # the logs are running means: compare one step with one step
    a, b = prep.model.train_step(batch), twin.train_step(batch)
    for key in ("kl_capacity", "loss", "kl"):
        assert float(a[key]) == float(b[key]), key


@pytest.mark.parametrize(
    ("beside", "field", "reason"),
    [
        ({"loss.kl_warmup_epochs": 2}, "loss.kl_warmup_epochs", "already schedules the KL term"),
        ({"loss.kl_weight": 4.0}, "loss.kl_weight", r"kl_capacity.weight \(γ\) weighs the KL term"),
        ({"loss.total_correlation_weight": 6.0}, "loss.total_correlation_weight", "constrains the KL as a whole"),
    ],
)
def test_capacity_refuses_the_options_it_replaces(beside, field, reason):
    with pytest.raises(SpecError, match=rf"{field}: is set beside loss.kl_capacity, but .*{reason}") as err:
        validate_dict(tiny_spec("vae", **{**CAPACITY, **beside}))
    assert [".".join(p.path) for p in err.value.problems] == [field]


# --------------------------------------------------------------------------- per-dimension KL and traversals
def test_the_export_plan_records_each_dimensions_mean_kl():
    prep = prepare(validate_dict(tiny_spec("vae")), quiet=True)
    x = prep.data.x_train
    plan = prep.model.export_plan(x, prep.data.y_train)
    mean, log_var = prep.model.encoder(x, training=False)
    expected = np.asarray(kl_divergence_normal_per_unit(mean, log_var)).mean(axis=0)
    np.testing.assert_allclose(plan.latent_kl, expected, rtol=1e-4)
    assert plan.facts(["decoder"])["latent_kl"] == plan.latent_kl


def _vae_export(root, latent_kl):
    """A tiny decoder export of a 'vae' (latent 4, 8x8 images), with `latent_kl` in its manifest when given."""
    import keras

    from genkit.export import export_networks

    z = keras.Input((4,), name="z")
    x = keras.layers.Reshape((8, 8, 1), name="x")(keras.layers.Dense(64, activation="sigmoid")(z))
    manifest = {
        "format": 1, "name": "vae4", "family": "vae", "data": {"shape": [8, 8, 1], "range": [0.0, 1.0]}, "latent_dim": 4,
        "prior": {"kind": "standard_normal"}, "sampling": {"network": "decoder", "latent_input": "z", "label_input": None, "output": "x"},
    }
    if latent_kl is not None:
        manifest["latent_kl"] = latent_kl
    out = root / ("with_kl" if latent_kl is not None else "without_kl")
    export_networks({"decoder": keras.Model(z, x)}, out, manifest)
    return out


def test_traverse_orders_rows_by_kl_highest_first_with_collapsed_dimensions_last(tmp_path):
    from genkit.runtime import Sampler
    from genkit.runtime.latent import explore_traverse, latent_traversals, traversal_dimensions

    export = _vae_export(tmp_path, [0.01, 2.5, 0.0, 0.75])
    sampler = Sampler(export)
    dims = traversal_dimensions(sampler)
    assert dims == [1, 3, 0, 2]
    (block,) = latent_traversals(sampler, dims, steps=3)
    assert block.labels == ["z1 KL 2.50", "z3 KL 0.75", "z0 KL 0.01", "z2 KL 0.00"]
    np.testing.assert_allclose(block.latents[0, :, 1], [-2.0, 0.0, 2.0])
    line = explore_traverse(export, tmp_path / "grid.png", steps=3)
    assert "highest KL" in line and (tmp_path / "grid.png").is_file()


def test_an_export_without_kl_keeps_index_order_and_says_so(tmp_path):
    from genkit.runtime import Sampler
    from genkit.runtime.latent import explore_traverse, traversal_dimensions

    export = _vae_export(tmp_path, None)
    assert traversal_dimensions(Sampler(export)) == [0, 1, 2, 3]
    line = explore_traverse(export, tmp_path / "grid.png", steps=3)
    assert "in index order: the export records no per-dimension KL" in line


@pytest.mark.parametrize(("latent_kl", "message"), [([1.0, 2.0], "latent_kl holds 2 numbers"), ([1.0, -0.5, 0.0, 0.0], r"latent_kl\[1\]: expected >= 0, got -0.5")])
def test_a_bad_latent_kl_is_refused_when_the_export_opens(tmp_path, latent_kl, message):
    import json

    from genkit.runtime import Sampler

    export = _vae_export(tmp_path, [0.1, 0.2, 0.3, 0.4])
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["latent_kl"] = latent_kl
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GenkitError, match=message):
        Sampler(export)
