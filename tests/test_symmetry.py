"""Canonicalization into the reference set: orbit invariance, equal outputs, idempotence,
transforms and their inverses, against an independent numpy implementation (paper.md §2–3)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbnn
from symbnn import (
    MLP,
    SYMMETRIES,
    NonFiniteError,
    ShapeError,
    SymbnnError,
    Transform,
    UnsupportedError,
    canonicalize,
    canonicalize_pytree,
    cardinality,
    log_cardinality,
)
from symbnn.model import LEAKY_RELU_SLOPE

ACTS = sorted(SYMMETRIES)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- an independent numpy implementation --------------------------------------------------
def unflatten(theta, sizes):
    """Copies of `[(W (in, out), b (out,)), ...]` for one flat vector."""
    layers, off = [], 0
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        w = theta[off : off + a * b].reshape(a, b).copy()
        off += a * b
        layers.append([w, theta[off : off + b].copy()])
        off += b
    return layers


def flatten(layers):
    return np.concatenate([np.concatenate([w.ravel(), b]) for w, b in layers])


def is_exact(activation):
    """Permutations and sign flips only: every operation is exact in floating point."""
    sym = SYMMETRIES[activation]
    return not (sym.positive_scaling or sym.sigmoid_flip)


def group_action(theta, sizes, activation, perms, signs, scales):
    """g·θ: canonical neuron k of layer l is old neuron perms[l][k], its incoming weights and
    bias divided by scales[l][k] and all multiplied by signs[l][k], its outgoing weights
    multiplied by scale and sign; a sigmoid flip adds the old outgoing weights to the next bias."""
    layers = unflatten(theta, sizes)
    for li, (p, s, c) in enumerate(zip(perms, signs, scales, strict=True)):
        (w, b), (w2, b2) = layers[li], layers[li + 1]
        inv = np.argsort(p)
        sg, sc = np.asarray(s, float)[inv], np.asarray(c, float)[inv]  # by old neuron
        w2 = w2 * sc[:, None]
        if activation == "sigmoid":
            for j in range(len(sg)):
                if sg[j] < 0:
                    b2 = b2 + w2[j]
        layers[li] = [(w / sc * sg)[:, p], (b / sc * sg)[p]]
        layers[li + 1] = [(w2 * sg[:, None])[p], b2]
    return flatten(layers)


def reference(theta, sizes, activation):
    """The documented rule (rust/canonical.rs), neuron by neuron, in plain numpy and Python
    sorting: live neurons fixed and sorted layer by layer, then dead ones settled backwards."""
    sym = SYMMETRIES[activation]
    flips = sym.sign_flip or sym.sigmoid_flip
    layers = unflatten(theta, sizes)
    hidden = len(sizes) - 2
    lives = []
    for li in range(hidden):
        (w, b), (w2, b2) = layers[li], layers[li + 1]
        rows = w.shape[0] if li == 0 or activation == "sigmoid" else lives[-1]
        dead = [b[j] == 0 and not w[:rows, j].any() for j in range(w.shape[1])]
        for j in np.flatnonzero(~np.array(dead)):
            if sym.positive_scaling:
                r = math.sqrt(float(np.sum(w[:rows, j] ** 2) + b[j] ** 2))
                w[:, j] /= r
                b[j] /= r
                w2[j] *= r
            v = np.concatenate([[b[j]], w[:rows, j]])
            if flips and v[v != 0][0] < 0:
                if activation == "sigmoid":
                    b2 += w2[j]
                w[:, j] *= -1
                b[j] *= -1
                w2[j] *= -1
        live = [j for j in range(len(dead)) if not dead[j]]
        live.sort(key=lambda j: (b[j], *w[:rows, j], *w2[j], *w[rows:, j]))
        order = live + [j for j in range(len(dead)) if dead[j]]
        layers[li] = [w[:, order], b[order]]
        layers[li + 1] = [w2[order], b2]
        lives.append(len(live))
    for li in reversed(range(hidden)):
        if activation == "sigmoid":
            break
        (w, b), (w2, _) = layers[li], layers[li + 1]
        dead = range(lives[li], w.shape[1])

        def vector(k, w=w, b=b, w2=w2):
            return np.concatenate([w2[k], w[:, k], [b[k]]])

        for k in dead:
            if sym.positive_scaling and w2[k].any():
                norm = math.sqrt(float(np.sum(w2[k] ** 2)))
                w2[k] /= norm
                w[:, k] *= norm
                b[k] *= norm
            v = vector(k)
            if sym.sign_flip and v[v != 0].size and v[v != 0][0] < 0:
                w[:, k] *= -1
                b[k] *= -1
                w2[k] *= -1
        order = list(range(lives[li])) + sorted(dead, key=lambda k: tuple(vector(k)))
        layers[li][0], layers[li][1] = w[:, order], b[order]
        layers[li + 1][0] = w2[order]
    return flatten(layers)


def forward(theta, sizes, activation, x):
    act = {
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0),
        "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_RELU_SLOPE * z),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "sin": np.sin,
        "gelu": lambda z: np.asarray(symbnn.ACTIVATIONS["gelu"](jnp.asarray(z))),
        "silu": lambda z: z / (1 + np.exp(-z)),
        "identity": lambda z: z,
    }[activation]
    h = x
    layers = unflatten(theta, sizes)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = act(h)
    return h


# --- strategies -------------------------------------------------------------------------------
@st.composite
def problems(draw, structured=True):
    """(sizes, activation, theta), often with zero biases, dead neurons and copies of neurons
    (not for the sigmoid, whose dead neurons are only deterministic: rust/canonical.rs)."""
    hidden = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    sizes = [draw(st.integers(1, 4)), *hidden, draw(st.integers(1, 3))]
    activation = draw(st.sampled_from(ACTS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    theta = rng.standard_normal(sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False)))
    if structured and activation != "sigmoid" and draw(st.booleans()):
        layers = unflatten(theta, sizes)
        for li in range(len(hidden)):
            (w, b), (w2, _) = layers[li], layers[li + 1]
            m = w.shape[1]
            for j in range(m):
                kind = rng.integers(0, 5)
                if j == 0 and SYMMETRIES[activation].positive_scaling:
                    # Without one live neuron, rescaled biases of the next layer all tie at ±1.
                    continue
                # A zero bias ties every neuron with one live input after rescaling: a tie that
                # only the outgoing weights break, outside the promise (rust/canonical.rs).
                if kind == 0 and not SYMMETRIES[activation].positive_scaling:
                    b[j] = 0.0
                elif kind == 1:
                    w[:, j], b[j] = 0.0, 0.0  # dead
                elif kind == 2 and m > 1:
                    k = rng.integers(0, m)  # a copy of another neuron, maybe negated
                    sg = -1.0 if (SYMMETRIES[activation].sign_flip and rng.random() < 0.5) else 1.0
                    w[:, j], b[j], w2[j] = sg * w[:, k], sg * b[k], sg * w2[k]
        # Stay off the null set where invariance is not promised (rust/canonical.rs): a dead
        # neuron gets no weights from dead neurons.
        live_prev = np.ones(sizes[0], bool)
        for li in range(len(hidden)):
            w, b = layers[li]
            dead = (b == 0) & ~w[live_prev].any(axis=0)
            w[np.ix_(~live_prev, dead)] = 0.0
            live_prev = ~dead
        theta = flatten(layers)
    return sizes, activation, theta


def random_element(rng, sizes, activation):
    sym = SYMMETRIES[activation]
    perms, signs, scales = [], [], []
    for m in sizes[1:-1]:
        perms.append(rng.permutation(m))
        flip = sym.sign_flip or sym.sigmoid_flip
        signs.append(rng.choice([-1, 1], m) if flip else np.ones(m, int))
        scales.append(np.exp(rng.uniform(-2, 2, m)) if sym.positive_scaling else np.ones(m))
    return perms, signs, scales


def assert_same(a, b, exact):
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        scale = max(1.0, float(np.max(np.abs(a))))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale)


# --- properties -------------------------------------------------------------------------------
@SETTINGS
@given(problems(), st.integers(0, 2**32 - 1))
def test_every_member_of_an_orbit_has_the_same_representative(problem, seed):
    sizes, activation, theta = problem
    rng = np.random.default_rng(seed)
    c = canonicalize(theta, (sizes, activation))
    for _ in range(3):
        moved = group_action(theta, sizes, activation, *random_element(rng, sizes, activation))
        assert_same(canonicalize(moved, (sizes, activation)), c, is_exact(activation))


@SETTINGS
@given(problems())
def test_outputs_are_unchanged_and_the_map_is_idempotent(problem):
    sizes, activation, theta = problem
    c = canonicalize(theta, (sizes, activation))
    x = np.random.default_rng(0).standard_normal((16, sizes[0]))
    y0, y1 = forward(theta, sizes, activation, x), forward(c, sizes, activation, x)
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-10 * max(1.0, np.max(np.abs(y0))))
    assert_same(canonicalize(c, (sizes, activation)), c, is_exact(activation))


@SETTINGS
@given(problems())
def test_the_numpy_reference_agrees(problem):
    sizes, activation, theta = problem
    c = canonicalize(theta, (sizes, activation))
    exact = is_exact(activation) or activation == "sigmoid"  # same sums in the same order
    assert_same(c, reference(theta, sizes, activation), exact)


@SETTINGS
@given(problems(), st.integers(0, 2**32 - 1))
def test_transforms_apply_like_numpy_and_invert(problem, seed):
    sizes, activation, theta = problem
    perms, signs, scales = random_element(np.random.default_rng(seed), sizes, activation)
    g = Transform(
        sizes, activation, np.concatenate(perms), np.concatenate(signs), np.concatenate(scales)
    )
    moved = g.apply(theta)
    assert_same(
        moved,
        group_action(theta, sizes, activation, perms, signs, scales),
        activation != "sigmoid" and is_exact(activation),
    )
    assert_same(g.inverse(moved), theta, is_exact(activation))
    # The transform canonicalization returns maps theta onto the result bit for bit.
    c, t = canonicalize(theta, (sizes, activation), return_transform=True)
    assert_same(t.apply(theta), c, not SYMMETRIES[activation].positive_scaling)
    assert_same(t.inverse(c), theta, is_exact(activation))


@SETTINGS
@given(problems(structured=False))
def test_float32_follows_float64(problem):
    sizes, activation, theta = problem
    t32 = theta.astype(np.float32)
    c32 = canonicalize(t32, (sizes, activation))
    assert c32.dtype == np.float32
    c64 = canonicalize(t32.astype(np.float64), (sizes, activation))
    if is_exact(activation):
        np.testing.assert_array_equal(c32, c64.astype(np.float32))
    else:
        np.testing.assert_allclose(c32, c64, rtol=1e-4, atol=1e-4 * np.max(np.abs(c64)))


# --- shapes, dtypes and the public surface ---------------------------------------------------
F2 = ([8, 16, 16, 16, 1], "tanh")


def test_batches_of_any_shape_map_row_by_row():
    rng = np.random.default_rng(1)
    theta = rng.standard_normal((3, 4, 705))
    c = canonicalize(theta, F2)
    assert c.shape == theta.shape and c.dtype == theta.dtype
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(c[i, j], canonicalize(theta[i, j], F2))
    np.testing.assert_array_equal(canonicalize(theta.reshape(12, 705), F2), c.reshape(12, 705))
    # Strided input and an MLP spec work too; the input is left alone.
    before = theta.copy()
    np.testing.assert_array_equal(canonicalize(theta[:, ::2], MLP(8, (16, 16, 16))), c[:, ::2])
    np.testing.assert_array_equal(theta, before)


def test_the_f2_representative_has_positive_sorted_biases():
    mlp = MLP(8, (16, 16, 16))
    c = canonicalize(np.random.default_rng(2).standard_normal((50, 705)), mlp)
    for _, b in mlp.unflatten(c)[:-1]:
        assert np.all(b > 0) and np.all(np.diff(b, axis=-1) >= 0)


def test_positions_carry_log_sigma_and_in_place_matches():
    mlp = MLP(2, (5, 4), likelihood="gaussian")
    pos = np.random.default_rng(3).standard_normal((7, mlp.position_size))
    c = canonicalize(pos, mlp)
    np.testing.assert_array_equal(c[:, -1], pos[:, -1])
    np.testing.assert_array_equal(c[:, :-1], canonicalize(pos[:, :-1], mlp))
    work = pos.copy()
    out, t = canonicalize(work, mlp, in_place=True, return_transform=True)
    assert out is work
    np.testing.assert_array_equal(work, c)
    np.testing.assert_array_equal(t.apply(pos), c)


def test_transform_layers_and_broadcasting():
    sizes, rng = [3, 4, 5, 2], np.random.default_rng(4)
    theta = rng.standard_normal((6, 53))
    c, t = canonicalize(theta, (sizes, "tanh"), return_transform=True)
    assert t.batch_shape == (6,)
    assert [p.shape for p in t.permutations] == [(6, 4), (6, 5)]
    assert all(set(np.unique(s)) <= {-1, 1} for s in t.signs)
    assert all(np.all(s == 1) for s in t.scales)
    for p in t.permutations:
        np.testing.assert_array_equal(
            np.sort(p, axis=-1), np.broadcast_to(np.arange(p.shape[-1]), p.shape)
        )
    # One sample's transform applies to a whole batch.
    first = [
        np.concatenate([a[0] for a in arrays]) for arrays in (t.permutations, t.signs, t.scales)
    ]
    one = Transform(sizes, "tanh", *first)
    moved = one.apply(theta)
    np.testing.assert_array_equal(moved[0], c[0])
    np.testing.assert_array_equal(one.inverse(moved), theta)


def test_removing_only_some_symmetries():
    sizes, rng = [2, 6, 1], np.random.default_rng(5)
    theta = rng.standard_normal(25)
    perm_only = canonicalize(theta, (sizes, "tanh"), symmetries=["permutation"])
    np.testing.assert_array_equal(np.sort(perm_only), np.sort(theta))
    relu = canonicalize(theta, (sizes, "relu"), symmetries=("permutation",))
    np.testing.assert_array_equal(np.sort(relu), np.sort(theta))  # scales kept
    with pytest.raises(UnsupportedError, match="sign_flip"):
        canonicalize(theta, (sizes, "relu"), symmetries=["sign_flip"])
    with pytest.raises(SymbnnError, match="unknown symmetry"):
        canonicalize(theta, (sizes, "tanh"), symmetries=["rotation"])


def test_dead_neurons_go_last_and_zero_biases_defer_to_weights():
    # sizes [1, 3, 1]: neuron 0 has a zero bias and weight -2, neuron 1 is dead.
    theta = np.array([-2.0, 0.0, 0.5, 0.0, 0.0, -1.0, 1.0, -3.0, 2.0, 0.25])
    c, t = canonicalize(theta, ([1, 3, 1], "tanh"), return_transform=True)
    np.testing.assert_array_equal(c, [2.0, -0.5, 0.0, 0.0, 1.0, 0.0, -1.0, -2.0, 3.0, 0.25])
    np.testing.assert_array_equal(t.permutations[0], [0, 2, 1])


def test_pytrees_flax_and_torch_style():
    rng = np.random.default_rng(6)
    sizes, act = [3, 5, 4, 2], "tanh"
    theta = rng.standard_normal(sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False)))
    layers = unflatten(theta, sizes)
    flax = {"params": {f"Dense_{i}": {"kernel": w, "bias": b} for i, (w, b) in enumerate(layers)}}
    want = unflatten(canonicalize(theta, (sizes, act)), sizes)
    out = canonicalize_pytree(flax, act)
    for i, (w, b) in enumerate(want):
        np.testing.assert_array_equal(out["params"][f"Dense_{i}"]["kernel"], w)
        np.testing.assert_array_equal(out["params"][f"Dense_{i}"]["bias"], b)
    # JAX leaves come back as JAX arrays; the transform is returned on request.
    jtree = {
        f"Dense_{i}": {"kernel": jnp.asarray(w), "bias": jnp.asarray(b)}
        for i, (w, b) in enumerate(layers)
    }
    jout, t = canonicalize_pytree(jtree, act, return_transform=True)
    assert isinstance(jout["Dense_0"]["kernel"], type(jtree["Dense_0"]["kernel"]))
    assert t.sizes == tuple(sizes)
    # Torch names and (out, in) weights.
    torch = {f"{2 * i}": {"weight": w.T.copy(), "bias": b} for i, (w, b) in enumerate(layers)}
    tout = canonicalize_pytree(torch, act)
    np.testing.assert_array_equal(tout["0"]["weight"], want[0][0].T)
    # A stacked ensemble: every leaf has the same leading axis.
    stacked = {k: {n: np.stack([v, v]) for n, v in d.items()} for k, d in flax["params"].items()}
    sout = canonicalize_pytree(stacked, act)
    np.testing.assert_array_equal(sout["Dense_1"]["kernel"][1], want[1][0])
    with pytest.raises(symbnn.CheckpointError, match="BatchNorm_0"):
        canonicalize_pytree({**flax["params"], "BatchNorm_0": {"scale": np.ones(5)}}, act)


def test_cardinality_is_exact():
    assert cardinality(([1, 3, 1], "tanh")) == 48
    assert cardinality(MLP(1, (3,))) == 48
    assert cardinality(([1, 3, 1], "relu")) == 6
    assert cardinality(([1, 3, 1], "sigmoid")) == 48
    f2 = (math.factorial(16) * 2**16) ** 3
    assert cardinality(F2) == f2
    # About 2.6e54 (paper.md's "about 10^42" undercounts: 16! alone is 2.1e13 per layer).
    assert 10**54 < f2 < 10**55
    assert log_cardinality(F2) == pytest.approx(math.log(f2), rel=1e-12)
    assert log_cardinality(([2, 1000, 1], "tanh")) == pytest.approx(
        math.lgamma(1001) + 1000 * math.log(2)
    )


# --- bad input ---------------------------------------------------------------------------------
def test_bad_input_is_refused_with_a_clear_error():
    with pytest.raises(ShapeError, match="705"):
        canonicalize(np.zeros((3, 704)), F2)
    with pytest.raises(ShapeError):
        canonicalize(np.float64(1.0), F2)
    theta = np.random.default_rng(7).standard_normal((2, 3, 705))
    theta[1, 2, 100] = np.nan
    with pytest.raises(NonFiniteError, match=r"\(1, 2\)"):
        canonicalize(theta, F2)
    flat = theta.reshape(6, 705)
    before = flat.copy()
    with pytest.raises(NonFiniteError, match="sample 5"):
        canonicalize(flat, F2, in_place=True)
    np.testing.assert_array_equal(flat, before)  # nothing changed
    with pytest.raises(UnsupportedError, match="float"):
        canonicalize(np.zeros(705, dtype=np.int64), F2)
    with pytest.raises(SymbnnError, match="activation"):
        canonicalize(np.zeros(10), ([1, 3, 1], "swish"))
    with pytest.raises(SymbnnError, match="writable"):
        canonicalize(np.zeros((4, 705))[:, ::1].T.T[::2], F2, in_place=True)
    relu = ([1, 3, 1], "relu")
    with pytest.raises(UnsupportedError, match="sign flip"):
        Transform(*relu, [0, 1, 2], [1, -1, 1], [1.0, 1.0, 1.0]).apply(np.zeros(10))
    with pytest.raises(UnsupportedError, match="positive scaling"):
        Transform([1, 3, 1], "tanh", [0, 1, 2], [1, 1, 1], [1.0, 2.0, 1.0]).apply(np.zeros(10))
    with pytest.raises(SymbnnError, match="not a permutation"):
        Transform(*relu, [0, 0, 2], [1, 1, 1], [1.0, 1.0, 1.0]).apply(np.zeros(10))
    with pytest.raises(ShapeError):
        Transform(*relu, [0, 1], [1, 1], [1.0, 1.0])
    t = Transform(*relu, np.zeros((2, 3), int) + [0, 1, 2], np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ShapeError, match="samples of shape"):
        t.apply(np.zeros((3, 10)))
