"""The autobatched many-chain NUTS engine (`symbnn.sampling.nuts_engine`).

It must make BlackJAX's moves (same kernel, same adaptation, same keys), sample a known
Gaussian, adapt like `blackjax.window_adaptation`, and keep chains independent of each other.
"""

import warnings

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blackjax.adaptation import window_adaptation as wa

import symbnn
from symbnn.sampling.nuts_engine import build_run_nuts, run_nuts

MEAN2 = jnp.array([1.0, -2.0])
COV2 = jnp.array([[1.0, 0.8], [0.8, 2.0]])


def gaussian_logdensity(mean, cov):
    prec = jnp.linalg.inv(cov)
    return lambda x: -0.5 * (x - mean) @ prec @ (x - mean)


def blackjax_reference(logdensity, positions, keys, num_warmup, num_samples):
    """Chains through BlackJAX's NUTS kernel and Stan window adaptation (the released
    `window_adaptation.base`), with the engine's keys: `fold_in(key, iteration)`."""
    base = getattr(wa, "base", None)
    if base is None:
        pytest.skip("blackjax.adaptation.window_adaptation.base is gone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        adapt_init, adapt_update, adapt_final = base(True, 0.8)
    kernel = blackjax.nuts.build_kernel()
    schedule = wa.build_schedule(num_warmup)

    def one_chain(position, key):
        def iteration(carry, i):
            state, adaptation, step_size, imm = carry
            state, info = kernel(jax.random.fold_in(key, i), state, logdensity, step_size, imm)
            if_warm = adapt_update(
                adaptation, tuple(schedule[i]), state.position, info.acceptance_rate
            )
            adaptation = jax.tree.map(
                lambda a, b: jnp.where(i < num_warmup, a, b), if_warm, adaptation
            )
            final_step, final_imm = adapt_final(adaptation)
            step_size = jnp.where(
                i < num_warmup - 1,
                adaptation.step_size,
                jnp.where(i == num_warmup - 1, final_step, step_size),
            )
            imm = jnp.where(
                i < num_warmup - 1,
                adaptation.inverse_mass_matrix,
                jnp.where(i == num_warmup - 1, final_imm, imm),
            )
            return (state, adaptation, step_size, imm), (state.position, info)

        carry = (
            blackjax.nuts.init(position, logdensity),
            adapt_init(position, 1.0),
            1.0,
            jnp.ones(position.shape[0]),
        )
        (_, _, step_size, imm), (draws, info) = jax.lax.scan(
            iteration, carry, jnp.arange(num_warmup + num_samples)
        )
        return draws[num_warmup:], {
            "step_size": step_size,
            "inverse_mass_matrix": imm,
            "acceptance_rate": jnp.mean(info.acceptance_rate[num_warmup:]),
            "num_grad_evals": 1 + jnp.sum(info.num_integration_steps),
            "divergences": jnp.sum(info.is_divergent),
        }

    return jax.jit(jax.vmap(one_chain))(positions, keys)


@pytest.fixture(scope="module")
def four_chains():
    """Four chains on a correlated 2-D Gaussian: 60 warm-up iterations, 4 draws."""
    keys = jax.random.split(jax.random.key(0), 4)
    positions = 3.0 * jax.random.normal(jax.random.key(1), (4, 2))
    samples, info = run_nuts(
        gaussian_logdensity(MEAN2, COV2), positions, keys, num_warmup=60, num_samples=4
    )
    return (
        keys,
        positions,
        np.asarray(samples),
        {k: np.asarray(v) for k, v in info._asdict().items()},
    )


def test_same_moves_as_blackjax_nuts_and_window_adaptation(four_chains):
    keys, positions, samples, info = four_chains
    assert samples.shape == (4, 4, 2)
    draws, ref = blackjax_reference(gaussian_logdensity(MEAN2, COV2), positions, keys, 60, 4)
    np.testing.assert_allclose(samples, draws, rtol=1e-10, atol=1e-10)
    for name, value in ref.items():
        np.testing.assert_allclose(info[name], value, rtol=1e-10, err_msg=name)
    # The loop runs as long as the busiest chain needs, one gradient per trip.
    assert info["loop_trips"][0] == info["num_grad_evals"].max() - 1


def test_chains_do_not_depend_on_their_neighbours(four_chains):
    keys4, positions4, samples4, info4 = four_chains
    keys = jnp.concatenate([keys4, jax.random.split(jax.random.key(7), 4)])
    positions = jnp.concatenate([positions4, jnp.zeros((4, 2))]).at[7, 1].set(jnp.nan)
    samples, info = run_nuts(
        gaussian_logdensity(MEAN2, COV2), positions, keys, num_warmup=60, num_samples=4
    )
    np.testing.assert_array_equal(np.asarray(samples[:4]), samples4)
    for name, value in info4.items():
        if name != "loop_trips":
            np.testing.assert_array_equal(np.asarray(getattr(info, name)[:4]), value)
    # A chain that starts at NaN stays there and does not stall the others.
    assert np.isfinite(np.asarray(samples)).all(axis=(1, 2)).tolist() == [True] * 7 + [False]
    assert np.isnan(np.asarray(samples[7])).any(axis=1).all()
    assert info.divergences[7] == 64


def test_gaussian_moments_and_adaptation_match_blackjax():
    d, chains, warmup, draws = 5, 64, 200, 4
    a = jax.random.normal(jax.random.key(3), (d, d))
    scales = jnp.array([0.3, 1.0, 3.0, 1.0, 0.5])
    cov = scales[:, None] * (a @ a.T / d + 0.5 * jnp.eye(d)) * scales[None, :]
    mean = jnp.arange(d) - 2.0
    logdensity = gaussian_logdensity(mean, cov)
    keys = jax.random.split(jax.random.key(4), chains)
    start = mean + jax.random.normal(jax.random.key(5), (chains, d))
    samples, info = run_nuts(logdensity, start, keys, num_warmup=warmup, num_samples=draws)
    info = {k: np.asarray(v) for k, v in info._asdict().items()}
    x = np.asarray(samples).reshape(-1, d)
    sd = np.sqrt(np.diag(cov))
    # Within Monte Carlo error: draws of one chain are close to independent for NUTS here.
    n_eff = chains * draws / 2
    assert np.all(np.abs(x.mean(0) - mean) < 4 * sd / np.sqrt(n_eff))
    corr_err = np.cov(x.T) / np.outer(sd, sd) - np.asarray(cov) / np.outer(sd, sd)
    assert np.max(np.abs(corr_err)) < 4 * np.sqrt(2 / n_eff)
    assert np.isfinite(np.asarray(samples)).all()

    # The same warm-up by BlackJAX's own `window_adaptation`, vmapped over the chains.
    warmup_fn = blackjax.window_adaptation(blackjax.nuts, logdensity)

    def one_chain(key, position):
        (state, params), _ = warmup_fn.run(key, position, num_steps=warmup)
        return params["step_size"], params["inverse_mass_matrix"]

    ref_step, ref_imm = jax.jit(jax.vmap(one_chain))(keys, start)
    assert abs(np.log(info["step_size"].mean() / ref_step.mean())) < 0.1
    np.testing.assert_allclose(
        np.median(info["inverse_mass_matrix"], 0), np.median(ref_imm, 0), rtol=0.25
    )
    # Each chain's mass matrix estimates its marginal variances (diagonal, from ~200 draws).
    np.testing.assert_allclose(np.median(info["inverse_mass_matrix"], 0), sd**2, rtol=0.25)
    # NUTS trees of the same size: gradient evaluations per iteration as BlackJAX.
    grads_per_iteration = info["num_grad_evals"].mean() / (warmup + draws)
    assert 2 < grads_per_iteration < 32
    assert 0.6 < info["acceptance_rate"].mean() < 0.97
    # Little lockstep waste: the loop runs about as long as the busiest chain.
    assert info["loop_trips"][0] < 1.5 * info["num_grad_evals"].mean()


def test_f1_on_the_sinusoid_in_single_precision():
    data = symbnn.datasets.sinusoidal()
    model = symbnn.MLP(1, (3,), 1, "tanh")
    x = jnp.asarray(data.x_train, jnp.float32)
    y = jnp.asarray(data.y_train, jnp.float32)
    positions = model.init_position(jax.random.key(0), (3,)).astype(jnp.float32)
    run = build_run_nuts(model.logdensity_fn(x, y), num_warmup=40, num_samples=2, thinning=2)
    keys = jax.random.split(jax.random.key(1), 3)
    samples, info = run.lower(positions, keys).compile()(positions, keys)
    assert samples.shape == (3, 2, model.position_size) and samples.dtype == jnp.float32
    assert np.isfinite(np.asarray(samples)).all()
    assert info.inverse_mass_matrix.shape == (3, model.position_size)
    assert np.all(np.asarray(info.step_size) > 0)
    # 40 warm-up and 4 sampling iterations, each at least one leapfrog step.
    assert np.all(np.asarray(info.num_grad_evals) >= 45)


def test_bad_input_is_a_typed_error():
    logdensity = gaussian_logdensity(MEAN2, COV2)
    keys = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(symbnn.ShapeError, match="one key per chain"):
        run_nuts(logdensity, jnp.zeros((4, 2)), keys, num_warmup=1, num_samples=1)
    with pytest.raises(symbnn.ShapeError, match="chains, d"):
        run_nuts(logdensity, jnp.zeros(3), keys, num_warmup=1, num_samples=1)
    for kwargs in (
        {"num_warmup": 1, "num_samples": 0},
        {"num_warmup": -1, "num_samples": 1},
        {"num_warmup": 1, "num_samples": 1, "thinning": 0},
        {"num_warmup": 1, "num_samples": 1, "target_accept": 1.0},
        {"num_warmup": 1, "num_samples": 1, "max_tree_depth": 0},
        {"num_warmup": 1, "num_samples": 1, "initial_step_size": 0.0},
    ):
        with pytest.raises(symbnn.SymbnnError):
            build_run_nuts(logdensity, **kwargs)


@pytest.mark.parametrize("chains", [3, 40])
def test_gathered_trips_equal_the_masked_reference(chains):
    """`step_chains` does the end-of-tree and end-of-doubling work for the chains there alone,
    k at a time (3 chains: one at a time, so several rounds); `vmap(trip)` masks it over all.
    The same moves: counters and keys equal, floats to round-off (XLA fuses the two forms
    differently)."""
    from functools import partial

    from symbnn.sampling.nuts_engine import init_chain, nuts_config, step_chains, trip

    cfg = nuts_config(lambda p: -0.5 * jnp.sum(p**2 * jnp.arange(1.0, 4.0)), num_warmup=30,
                      num_samples=2)  # fmt: skip
    start = jnp.asarray(np.random.default_rng(0).normal(size=(chains, 3)))
    state = jax.vmap(partial(init_chain, cfg))(start, jax.random.split(jax.random.key(1), chains))
    loop = jax.jit(
        lambda step, s: jax.lax.fori_loop(0, 300, lambda i, c: step(c), s), static_argnums=0
    )
    gathered = loop(partial(step_chains, cfg), state)
    masked = loop(jax.vmap(partial(trip, cfg)), state)
    for a, b in zip(jax.tree.leaves(gathered), jax.tree.leaves(masked), strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        if jnp.issubdtype(a.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(jnp.min(gathered.iteration)) > 3  # trees ended along the way


def test_first_true_is_nonzero_with_a_size():
    from symbnn.sampling.nuts_engine import _first_true

    rng = np.random.default_rng(0)
    for n, k, p in [(10, 3, 0.5), (300, 4, 0.01), (300, 4, 0.5), (7, 7, 1.0), (5, 2, 0.0)]:
        for _ in range(5):
            mask = jnp.asarray(rng.random(n) < p)
            want = jnp.nonzero(mask, size=k, fill_value=n)[0]
            np.testing.assert_array_equal(np.asarray(_first_true(mask, k)), np.asarray(want))
