"""Mode finding and the chain recommendation: planted modes come back with their weights in
both spaces, the spaces agree, and the chain count follows the union bound."""

import numpy as np
import pytest

import symbnn
from symbnn import MLP, find_modes, recommend_chains
from symbnn.symmetry.modes import Modes, _chains_needed, default_probes
from symbnn.symmetry.planted import plant_modes

WEIGHTS = (0.567, 0.35, 0.083)


def _agree(labels, truth) -> bool:
    """Same partition up to renaming."""
    pairs = set(zip(labels.tolist(), truth.tolist(), strict=True))
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


@pytest.mark.parametrize("spec", [MLP(1, (3,), 1), MLP(2, (4, 3), 1), MLP(8, (16, 16), 1)], ids=str)
@pytest.mark.parametrize("weights", [WEIGHTS, (0.5, 0.5), (0.4, 0.3, 0.2, 0.1)], ids=len)
def test_planted_modes_come_back_in_both_spaces(spec, weights):
    theta, truth, _ = plant_modes(spec, weights, 400, noise=0.02, seed=len(weights))
    found = {}
    for space in ("function", "parameter"):
        m = find_modes(theta, spec, space=space)
        assert m.num_modes == len(weights), (space, m.counts)
        assert m.singletons == 0 and m.unassigned == 0
        np.testing.assert_allclose(m.weights, np.sort(weights)[::-1], atol=1.5 / 400)
        assert _agree(m.labels, truth)
        assert m.representatives.shape == (len(weights), spec.num_params)
        found[space] = m
    np.testing.assert_array_equal(found["function"].labels, found["parameter"].labels)


def test_one_mode_stays_one():
    spec = MLP(1, (3,), 1)
    theta, _, _ = plant_modes(spec, (1.0,), 300, noise=0.05, seed=9)
    for space in ("function", "parameter"):
        m = find_modes(theta, spec, space=space)
        assert m.num_modes == 1 and m.counts[0] == 300


def test_representatives_predict_like_their_mode():
    spec = MLP(2, (4, 3), 1)
    theta, truth, centers = plant_modes(spec, WEIGHTS, 300, noise=0.01, seed=1)
    m = find_modes(theta, spec)
    x = default_probes(spec, 16, seed=5)
    for k in range(3):
        members = theta[m.labels == k]
        own = np.asarray(spec.apply(m.representatives[k], x))
        ref = np.asarray(spec.apply(members[0], x))
        assert np.abs(own - ref).max() < 0.2


def test_chains_by_draws_labels_and_explicit_probes_and_tol():
    spec = MLP(1, (3,), 1)
    theta, truth, _ = plant_modes(spec, (0.5, 0.5), 60, noise=0.01, seed=2)
    m = find_modes(theta.reshape(6, 10, -1), spec, x_probe=np.linspace(-3, 3, 30)[:, None])
    assert m.labels.shape == (6, 10) and m.num_modes == 2
    m2 = find_modes(theta, spec, tol=1e-6, min_size=1)
    assert m2.num_modes == 60 and m2.singletons == 60


def test_bad_arguments_are_refused():
    spec = MLP(1, (3,), 1)
    theta = np.zeros((4, 10))
    with pytest.raises(symbnn.SymbnnError, match="space"):
        find_modes(theta, spec, space="weights")
    with pytest.raises(symbnn.ShapeError, match="x_probe"):
        find_modes(theta, spec, x_probe=np.zeros((5, 2)))
    with pytest.raises(symbnn.SymbnnError, match="tol"):
        find_modes(theta, spec, tol=-1.0)
    with pytest.raises(symbnn.ShapeError):
        find_modes(np.zeros((4, 9)), spec)


def _modes(counts, singletons=0, labels=None):
    counts = np.asarray(counts)
    n = int(counts.sum()) + singletons
    if labels is None:
        labels = np.concatenate([np.repeat(np.arange(len(counts)), counts), -np.ones(singletons)])
    return Modes(
        labels=np.asarray(labels, dtype=np.int64),
        counts=counts,
        weights=counts / n,
        representatives=np.zeros((len(counts), 10)),
        representative_index=np.zeros(len(counts), dtype=np.int64),
        space="function",
        tol=0.1,
        singletons=singletons,
        clusters=len(counts) + singletons,
        num_samples=n,
    )


def test_union_bound_matches_the_papers_numbers():
    assert _chains_needed(np.array(WEIGHTS), 0.99) == 54
    assert _chains_needed(np.array([1.0]), 0.99) == 1
    # Brute force: the count is the first t where the union bound holds.
    w = np.array([0.7, 0.2, 0.1])
    t = _chains_needed(w, 0.95)
    assert np.sum((1 - w) ** t) <= 0.05 < np.sum((1 - w) ** (t - 1))


def test_recommendation_from_planted_weights():
    rec = recommend_chains(_modes([567, 350, 83]), 0.99)
    assert rec.num_chains == 54 and rec.unseen_mass == 0 and rec.num_modes == 3
    assert rec.additional_chains == 0
    # One singleton: the unseen mass joins as a fourth mode and asks for many more chains.
    rec = recommend_chains(_modes([567, 350, 82], singletons=1), 0.99)
    assert rec.unseen_mass == pytest.approx(1e-3)
    assert rec.weights[-1] == pytest.approx(1e-3)
    assert rec.num_chains > 4000 and rec.additional_chains == rec.num_chains - 1000
    assert recommend_chains(_modes([567, 350, 82], 1), 0.99, unseen="none").num_chains == 54
    # The floor caps what a tiny unseen mass can ask for.
    tiny = recommend_chains(_modes([60000, 39999], singletons=1), 0.99, min_weight=1e-3)
    assert tiny.weights[-1] == pytest.approx(1e-3) and tiny.num_chains < 6000


def test_recommendation_counts_chains_not_draws():
    # 5 chains × 4 draws: chains 0-2 in mode 0, chain 3 in mode 1, chain 4 in no mode.
    labels = np.array([[0] * 4, [0] * 4, [0, 0, 0, 1], [1] * 4, [-1] * 4])
    m = _modes([11, 5], labels=labels)
    rec = recommend_chains(m, 0.9)
    assert rec.observed_chains == 5 and rec.num_modes == 1
    assert rec.unseen_mass == pytest.approx(2 / 5)
    np.testing.assert_allclose(rec.weights, [0.6, 0.4])


def test_recommendation_refuses_bad_arguments():
    with pytest.raises(symbnn.SymbnnError, match="confidence"):
        recommend_chains(_modes([5, 5]), 1.0)
    with pytest.raises(symbnn.SymbnnError, match="unseen"):
        recommend_chains(_modes([5, 5]), unseen="chao")


def test_classifiers_are_compared_on_log_probabilities():
    spec = MLP(2, (4,), 3, likelihood="categorical")
    theta, truth, _ = plant_modes(spec, (0.5, 0.5), 80, noise=0.01, seed=6)
    m = find_modes(theta, spec)
    assert m.num_modes == 2 and _agree(m.labels, truth)
    # A shift of every logit by the same amount is the same classifier.
    layers = spec.unflatten(theta)
    w, b = layers[-1]
    shifted = spec.flatten([*layers[:-1], (w, b + 5.0)])
    both = find_modes(np.concatenate([theta, shifted]), spec)
    assert both.num_modes == 2 and both.counts.sum() == 160
