"""Symmetry removal: every sample keeps its function, planted modes line up, quality improves,
both methods run, bad input is refused."""

import numpy as np
import pytest

import symbnn
from symbnn import MLP, removal_quality, remove_symmetries
from symbnn.symmetry.planted import plant_modes, scramble

X = np.random.default_rng(123).standard_normal((20, 8))


def _outputs(spec, theta):
    return np.asarray(spec.apply(theta, X[:, : spec.in_features]))


@pytest.mark.parametrize(
    "spec",
    [
        MLP(1, (3,), 1),
        MLP(2, (4, 3), 1),
        MLP(3, (5, 4, 3), 2, activation="relu"),
        MLP(2, (4, 3), 1, activation="sigmoid"),
        MLP(2, (3, 3), 2, activation="leaky_relu"),
        MLP(2, (3, 4), 1, activation="sin"),
        MLP(2, (3, 4), 1, activation="gelu"),
    ],
    ids=lambda s: f"{s.activation}{s.sizes}",
)
@pytest.mark.parametrize("method", ["assignment", "study"])
def test_every_sample_keeps_its_function(spec, method):
    theta = np.random.default_rng(0).standard_normal((60, spec.num_params))
    r = remove_symmetries(theta, spec, method=method, study_k=32, study_iterations=8)
    assert r.samples.shape == theta.shape
    np.testing.assert_allclose(_outputs(spec, r.samples), _outputs(spec, theta), atol=1e-10)


def test_scramble_keeps_functions_and_moves_parameters():
    spec = MLP(2, (4, 3), 1)
    theta = np.random.default_rng(1).standard_normal((10, spec.num_params))
    moved = scramble(spec, theta, np.random.default_rng(2))
    assert np.abs(moved - theta).max() > 0.1
    np.testing.assert_allclose(_outputs(spec, moved), _outputs(spec, theta), atol=1e-12)


@pytest.mark.parametrize("spec", [MLP(1, (3,), 1), MLP(3, (5, 4), 1)], ids=str)
def test_planted_copies_line_up_and_quality_improves(spec):
    theta, modes, centers = plant_modes(spec, (0.6, 0.3, 0.1), 300, noise=0.01, seed=4)
    r = remove_symmetries(theta, spec)
    assert r.converged
    assert r.quality_after < 0.5 * r.quality_before
    assert r.quality_before == pytest.approx(removal_quality(theta, spec))
    assert r.quality_after == pytest.approx(removal_quality(r.samples, spec))
    # Within each mode the copies coincide up to the noise.
    for k in range(3):
        spread = r.samples[modes == k].std(axis=0).max()
        assert spread < 0.05, (k, spread)


def test_study_method_runs_and_our_quality_is_no_worse():
    spec = MLP(1, (3,), 1)
    theta, _, _ = plant_modes(spec, (0.567, 0.35, 0.083), 200, noise=0.05, seed=2)
    ours = remove_symmetries(theta, spec)
    study = remove_symmetries(theta, spec, method="study", study_k=128, study_iterations=32)
    assert study.method == "study" and study.quality_after < study.quality_before
    assert ours.quality_after <= study.quality_after + 1e-12


def test_chains_by_draws_keep_their_shape_and_dtype():
    spec = MLP(1, (3,), 1)
    theta, _, _ = plant_modes(spec, (0.5, 0.5), 24, seed=3)
    r = remove_symmetries(theta.reshape(4, 6, -1).astype(np.float32), spec)
    assert r.samples.shape == (4, 6, spec.num_params) and r.samples.dtype == np.float32
    flat = remove_symmetries(theta, spec)
    np.testing.assert_allclose(r.samples.reshape(24, -1), flat.samples, atol=1e-6)


def test_deterministic_for_a_seed():
    spec = MLP(2, (4, 3), 1)
    theta, _, _ = plant_modes(spec, (0.5, 0.5), 100, noise=0.1, seed=5)
    a = remove_symmetries(theta, spec, seed=7).samples
    b = remove_symmetries(theta, spec, seed=7).samples
    np.testing.assert_array_equal(a, b)


def test_bad_input_is_refused():
    spec = MLP(1, (3,), 1)
    with pytest.raises(symbnn.ShapeError, match="log σ"):
        remove_symmetries(np.zeros((5, 11)), spec)
    bad = np.zeros((5, 10))
    bad[3, 2] = np.nan
    with pytest.raises(symbnn.NonFiniteError, match="sample 3"):
        remove_symmetries(bad, spec)
    with pytest.raises(symbnn.SymbnnError, match="method"):
        remove_symmetries(np.zeros((5, 10)), spec, method="sort")
    with pytest.raises(symbnn.SymbnnError, match="iterations"):
        remove_symmetries(np.zeros((5, 10)), spec, iterations=0)


def test_tiny_batches():
    spec = MLP(1, (3,), 1)
    one = np.random.default_rng(0).standard_normal((1, spec.num_params))
    for method in ("assignment", "study"):
        r = remove_symmetries(one, spec, method=method)
        np.testing.assert_allclose(_outputs(spec, r.samples), _outputs(spec, one), atol=1e-12)
    assert remove_symmetries(np.zeros((0, 10)), spec).samples.shape == (0, 10)
