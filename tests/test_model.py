"""The MLP: flat layout, forward pass, log density and the declared symmetry groups."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

import symbnn
from symbnn import MLP, SYMMETRIES

# Independent numpy versions of every activation (not the jnp ones under test).
NP_ACT = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "sin": np.sin,
    "gelu": lambda z: 0.5 * z * (1.0 + erf(z / math.sqrt(2.0))),
    "silu": lambda z: z / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}
SPECS = [(1, (3,), 1), (2, (4, 5), 1), (3, (2, 3, 2), 2)]


def np_forward(sizes, act, theta, x):
    """Hand-written forward pass over the documented flat layout."""
    h, off = x, 0
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = theta[off : off + a * b].reshape(a, b)
        off += a * b
        bias = theta[off : off + b]
        off += b
        h = h @ w + bias
        if i < len(sizes) - 2:
            h = NP_ACT[act](h)
    assert off == len(theta)
    return h


def test_activations_cover_the_issue_list():
    assert set(symbnn.ACTIVATIONS) == set(NP_ACT) == set(SYMMETRIES)


@pytest.mark.parametrize("act", sorted(NP_ACT))
@pytest.mark.parametrize("shape", SPECS)
def test_apply_matches_hand_written_forward(act, shape):
    rng = np.random.default_rng(0)
    spec = MLP(*shape, activation=act)
    theta = rng.normal(size=(4, spec.num_params))
    x = rng.normal(size=(7, spec.in_features))
    out = np.asarray(spec.apply(theta, x))
    assert out.shape == (4, 7, spec.out_features)
    for t, o in zip(theta, out, strict=True):
        np.testing.assert_allclose(o, np_forward(spec.sizes, act, t, x), rtol=1e-12, atol=1e-12)
    # Arbitrary leading axes.
    assert spec.apply(theta.reshape(2, 2, -1), x).shape == (2, 2, 7, spec.out_features)


@pytest.mark.parametrize("shape", SPECS)
def test_flatten_unflatten_round_trip(shape):
    spec = MLP(*shape)
    theta = np.random.default_rng(1).normal(size=(3, 2, spec.num_params))
    layers = spec.unflatten(theta)
    pairs = list(zip(spec.sizes[:-1], spec.sizes[1:], strict=True))
    assert [w.shape[-2:] for w, _ in layers] == pairs
    back = spec.flatten(layers)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, theta)
    np.testing.assert_array_equal(spec.flatten(spec.unflatten(jnp.asarray(theta))), theta)


def np_log_density(spec, pos, x, y):
    d = spec.num_params
    theta, log_s = pos[:d], pos[d]
    s, s0 = math.exp(log_s), spec.prior_scale
    lp = sum(-0.5 * (t / s0) ** 2 - math.log(s0) - 0.5 * math.log(2 * math.pi) for t in theta)
    lp += math.log(math.sqrt(2 / math.pi)) - 0.5 * s**2 + log_s  # HalfNormal(1) + Jacobian
    f = np_forward(spec.sizes, spec.activation, theta, x)
    ll = np.sum(-0.5 * ((y - f) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi))
    return lp + ll


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid"])
def test_log_density_matches_numpy_float64(act):
    rng = np.random.default_rng(2)
    spec = MLP(2, (4, 3), 1, activation=act, prior_scale=0.7)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
    pos = rng.normal(size=(5, spec.position_size))
    got = np.asarray(spec.log_density(pos, x, y))
    want = np.array([np_log_density(spec, p, x, y) for p in pos])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert np.allclose(spec.log_density(pos, x, y[:, 0]), want, rtol=1e-10)  # y of shape (n,)
    grads = jax.vmap(jax.grad(spec.logdensity_fn(x, y)))(jnp.asarray(pos))
    assert grads.shape == pos.shape and bool(jnp.all(jnp.isfinite(grads)))
    # The gradient is the gradient of that density (central differences on one coordinate).
    e = np.zeros(spec.position_size)
    e[3] = 1e-6
    fd = (np_log_density(spec, pos[0] + e, x, y) - np_log_density(spec, pos[0] - e, x, y)) / 2e-6
    assert abs(float(grads[0, 3]) - fd) < 1e-5 * max(1.0, abs(fd))


def test_categorical_log_likelihood():
    rng = np.random.default_rng(3)
    spec = MLP(2, (3,), 4, likelihood="categorical")
    assert spec.position_size == spec.num_params
    x, y = rng.normal(size=(10, 2)), rng.integers(0, 4, 10)
    theta = rng.normal(size=spec.num_params)
    logits = np_forward(spec.sizes, "tanh", theta, x)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    want = logp[np.arange(10), y].sum()
    assert abs(float(spec.log_likelihood(theta, x, y)) - want) < 1e-10


# --- symmetry groups: declared elements keep the function, undeclared ones change it --------
def random_group_element(spec, theta, rng, *, force=None):
    """Apply a random element of the declared group (or of the one named in `force`) to a flat
    vector, hidden layer by hidden layer, in numpy."""
    sym = SYMMETRIES[spec.activation]
    layers = [(w.copy(), b.copy()) for w, b in spec.unflatten(theta.copy())]
    for k in range(len(spec.sizes) - 2):
        (w, b), (w2, b2) = layers[k], layers[k + 1]
        m = spec.sizes[k + 1]
        if force == "sign_flip" or (force is None and sym.sign_flip):
            s = np.where(rng.random(m) < 0.5, -1.0, 1.0)
            s[0] = -1.0  # at least one flip
            w, b, w2 = w * s, b * s, w2 * s[:, None]
        if force is None and sym.positive_scaling:
            c = np.exp(rng.normal(size=m))
            w, b, w2 = w * c, b * c, w2 / c[:, None]
        if force is None and sym.sigmoid_flip:
            flip = rng.random(m) < 0.5
            flip[0] = True
            b2 = b2 + (w2 * flip[:, None]).sum(0)
            s = np.where(flip, -1.0, 1.0)
            w, b, w2 = w * s, b * s, w2 * s[:, None]
        p = rng.permutation(m)
        w, b, w2 = w[:, p], b[p], w2[p]
        layers[k], layers[k + 1] = (w, b), (w2, b2)
    return spec.flatten(layers)


@pytest.mark.parametrize("act", sorted(NP_ACT))
def test_declared_symmetries_leave_the_output_unchanged(act):
    rng = np.random.default_rng(4)
    spec = MLP(2, (5, 4), 2, activation=act)
    x = rng.normal(size=(30, 2))
    for _ in range(5):
        theta = rng.normal(size=spec.num_params)
        g = random_group_element(spec, theta, rng)
        assert not np.allclose(g, theta)
        np.testing.assert_allclose(spec.apply(g, x), spec.apply(theta, x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "sigmoid", "gelu", "silu"])
def test_an_undeclared_sign_flip_changes_the_output(act):
    assert not SYMMETRIES[act].sign_flip
    rng = np.random.default_rng(5)
    spec = MLP(2, (5,), 1, activation=act)
    x = rng.normal(size=(30, 2))
    theta = rng.normal(size=spec.num_params)
    g = random_group_element(spec, theta, rng, force="sign_flip")
    assert np.max(np.abs(spec.apply(g, x) - spec.apply(theta, x))) > 1e-3


def test_bad_specs_and_shapes_raise_typed_errors():
    with pytest.raises(symbnn.SymbnnError, match="activation"):
        MLP(1, activation="swish")
    with pytest.raises(symbnn.SymbnnError, match="likelihood"):
        MLP(1, likelihood="poisson")
    with pytest.raises(symbnn.SymbnnError, match="positive"):
        MLP(1, hidden=(0,))
    with pytest.raises(ValueError):  # a SymbnnError is a ValueError
        MLP(1, prior_scale=-1.0)
    spec = MLP(1)
    with pytest.raises(symbnn.ShapeError, match="needs 10"):
        spec.apply(np.zeros(9), np.zeros((3, 1)))
    with pytest.raises(symbnn.ShapeError, match="x must have shape"):
        spec.apply(np.zeros(10), np.zeros((3, 2)))
    with pytest.raises(symbnn.ShapeError, match="y must have shape"):
        spec.log_density(np.zeros(11), np.zeros((3, 1)), np.zeros(4))


def test_spec_serializes_and_draws_from_the_prior():
    spec = MLP(3, (4, 2), 1, activation="relu", prior_scale=0.5)
    assert MLP.from_dict(spec.to_dict()) == spec
    pos = spec.init_position(jax.random.key(0), (1000,))
    assert pos.shape == (1000, spec.position_size)
    assert abs(float(jnp.std(pos[:, :-1])) - 0.5) < 0.02
