"""The batched gradient (chains-last for narrow networks, batched matrix products for wide
ones): the same values and gradients as the per-chain log density, for every activation and
both likelihoods, under every transformation the package applies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import symbnn
from symbnn import MLP
from symbnn.model import _chains_last
from symbnn.model._chains_last import NARROW_WEIGHTS, is_narrow

# float64 throughout (conftest), so that 1e-6 relative is a real bound.


def _data(spec, n, rng):
    x = rng.normal(size=(n, spec.in_features))
    if spec.likelihood == "categorical":
        return x, rng.integers(0, spec.out_features, n)
    return x, rng.normal(size=(n, spec.out_features))


def _reference(spec, x, y, weights=None):
    x, y = jnp.asarray(x), jnp.asarray(y)
    return lambda p: spec.log_density(p, x, y, weights)


def _close(a, b, rtol=1e-6):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.max(np.abs(b)), 1e-300)
    assert np.max(np.abs(a - b)) <= rtol * scale, np.max(np.abs(a - b)) / scale


def test_the_rule_picks_narrow_layers():
    assert is_narrow((1, 3, 1)) and is_narrow((5, 3, 1)) and is_narrow((4, 4, 4, 1))
    assert not is_narrow((10, 3, 1)) and not is_narrow((1, 16, 16, 1))
    assert not is_narrow((1, NARROW_WEIGHTS + 1, 1))


@pytest.mark.parametrize(("hidden", "form"), [((3,), "chains_last"), ((17,), "chains_first")])
def test_each_network_takes_its_formulation(monkeypatch, hidden, form):
    seen = []

    def spy(name):
        real = getattr(_chains_last, f"{name}_log_density")

        def make(*args, **kwargs):
            fn = real(*args, **kwargs)
            return lambda positions, *data: (
                seen.append((name, positions.shape)) or fn(positions, *data)
            )

        return make

    for name in ("chains_last", "chains_first"):
        monkeypatch.setattr(_chains_last, f"{name}_log_density", spy(name))
    rng = np.random.default_rng(5)
    spec = MLP(3, hidden, 1)
    x, y = _data(spec, 20, rng)
    positions = jnp.asarray(rng.normal(size=(5, spec.position_size)))
    jax.vmap(jax.grad(spec.logdensity_fn(x, y)))(positions)
    shape = (5, spec.position_size) if form == "chains_first" else (spec.position_size, 5)
    assert seen == [(form, shape)]


@pytest.mark.parametrize("activation", sorted(symbnn.ACTIVATIONS))
@pytest.mark.parametrize(
    "sizes, likelihood",
    [
        ((1, (3,), 1), "gaussian"),
        ((2, (4, 2), 2), "gaussian"),
        ((2, (3,), 3), "categorical"),
        ((2, (5, 4), 2), "gaussian"),  # wide from here on: batched matrix products
        ((3, (17,), 1), "gaussian"),
        ((2, (6,), 3), "categorical"),
    ],
)
def test_batched_gradient_equals_the_per_chain_one(activation, sizes, likelihood):
    rng = np.random.default_rng(0)
    spec = MLP(*sizes, activation=activation, likelihood=likelihood, prior_scale=0.8)
    x, y = _data(spec, 40, rng)
    positions = jnp.asarray(rng.normal(size=(9, spec.position_size)))
    fast, ref = spec.logdensity_fn(x, y), _reference(spec, x, y)
    v1, g1 = jax.jit(jax.vmap(jax.value_and_grad(fast)))(positions)
    v0, g0 = jax.vmap(jax.value_and_grad(ref))(positions)
    _close(v1, v0)
    _close(g1, g0)
    _close(jax.vmap(fast)(positions), v0)  # values alone: the per-chain function
    _close(jax.grad(fast)(positions[0]), g0[0])  # one chain, unbatched


@pytest.mark.parametrize("hidden", [(3,), (8, 4)])  # narrow, wide
def test_row_weights_batched_with_the_chains(hidden):
    """Each chain its own rows (the starts' held-out split): weights batched, data shared."""
    rng = np.random.default_rng(1)
    spec = MLP(2, hidden, 1)
    x, y = _data(spec, 30, rng)
    positions = jnp.asarray(rng.normal(size=(6, spec.position_size)))
    weights = jnp.asarray(rng.random((6, 30)) < 0.8, jnp.float64)

    def per_chain(p, w):
        return jax.value_and_grad(spec.logdensity_fn(x, y, w))(p)

    v1, g1 = jax.vmap(per_chain)(positions, weights)
    v0, g0 = jax.vmap(lambda p, w: jax.value_and_grad(_reference(spec, x, y, w))(p))(
        positions, weights
    )
    _close(v1, v0)
    _close(g1, g0)
    # A zero weight removes the row.
    keep = np.asarray(weights[0]) > 0
    sub = _reference(spec, x[keep], y[keep])(positions[0])
    _close(v1[0], sub)


def test_data_batched_with_the_chains_fall_back():
    rng = np.random.default_rng(2)
    spec = MLP(1, (3,), 1)
    xs = jnp.asarray(rng.normal(size=(4, 20, 1)))
    ys = jnp.asarray(rng.normal(size=(4, 20, 1)))
    positions = jnp.asarray(rng.normal(size=(4, spec.position_size)))
    g1 = jax.vmap(lambda p, x, y: jax.grad(spec.logdensity_fn(x, y))(p))(positions, xs, ys)
    g0 = jax.vmap(lambda p, x, y: jax.grad(_reference(spec, x, y))(p))(positions, xs, ys)
    _close(g1, g0)


def test_hessian_and_nested_vmap():
    """The Laplace baseline's Hessian and ensembles of chains (vmap of vmap)."""
    rng = np.random.default_rng(3)
    spec = MLP(1, (3,), 1, activation="sigmoid")
    x, y = _data(spec, 25, rng)
    fast, ref = spec.logdensity_fn(x, y), _reference(spec, x, y)
    p = jnp.asarray(rng.normal(size=(3, 2, spec.position_size)))
    _close(jax.hessian(fast)(p[0, 0]), jax.hessian(ref)(p[0, 0]))
    _close(jax.vmap(jax.vmap(jax.grad(fast)))(p), jax.vmap(jax.vmap(jax.grad(ref)))(p))


@pytest.mark.parametrize("hidden", [(3,), (8, 4)])  # narrow, wide
def test_known_noise_sampler_density_matches(hidden):
    """`sample(noise_std=...)` samples the network alone; its batched density agrees."""
    from symbnn.sampling.driver import logdensity_builder

    rng = np.random.default_rng(4)
    spec = MLP(1, hidden, 1)
    x, y = _data(spec, 25, rng)
    build = logdensity_builder(spec, 0.3)
    fast = build(jnp.asarray(x), jnp.asarray(y))
    theta = jnp.asarray(rng.normal(size=(5, spec.num_params)))
    full = jnp.concatenate([theta, jnp.full((5, 1), np.log(0.3))], axis=1)
    g1 = jax.vmap(jax.grad(fast))(theta)
    g0 = jax.vmap(jax.grad(_reference(spec, x, y)))(full)[:, :-1]
    _close(g1, g0)


def test_shape_errors_still_raise_where_the_density_is_called():
    spec = MLP(2, (3,), 1)
    ld = spec.logdensity_fn(np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(symbnn.ShapeError):
        ld(jnp.zeros(spec.position_size))
    ld = spec.logdensity_fn(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(symbnn.ShapeError):
        jax.vmap(jax.grad(ld))(jnp.zeros((2, spec.position_size)))
