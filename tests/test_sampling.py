"""`symbnn.sample`: correctness on a conjugate model, invariance to chunks and devices,
starts, flagged chains, bad input, and the `symbnn sample` command.

Compilation dominates the cost of these tests, so most use tiny programs (no warm-up) and the
correctness test keeps chains and steps small.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import symbnn
from symbnn.errors import DataError, NonFiniteError, ShapeError, SymbnnError, UnsupportedError
from symbnn.sampling.kernels import KERNELS
from symbnn.sampling.starts import holdout_fraction, resolve_optimizer

NOISE = 0.5
PRIOR = 1.0


def linear_data(n=40, seed=0):
    """A Bayesian linear regression (two features and a bias) with known noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = x @ np.array([0.7, -0.4]) + 0.3 + NOISE * rng.normal(size=n)
    return x, y


def exact_posterior(x, y):
    """Closed form: precision `I/s² + XᵀX/σ²`, mean `Σ Xᵀy/σ²`, with `X = [x, 1]` (the
    flat layout puts W first, then the bias)."""
    design = np.column_stack([x, np.ones(len(x))])
    cov = np.linalg.inv(np.eye(3) / PRIOR**2 + design.T @ design / NOISE**2)
    return cov @ design.T @ y / NOISE**2, cov


LINEAR = symbnn.MLP(2, hidden=(), activation="identity", prior_scale=PRIOR)
# A cheap program for driver tests: HMC without warm-up, small fixed steps.
CHEAP = dict(
    kernel="hmc", init="prior", num_warmup=0, initial_step_size=0.05, num_integration_steps=3
)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_conjugate_linear_regression_matches_closed_form(kernel):
    x, y = linear_data()
    mean, cov = exact_posterior(x, y)
    post = symbnn.sample(
        LINEAR, x, y, num_chains=256, num_warmup=300, num_samples=4, thinning=5,
        kernel=kernel, noise_std=NOISE, progress=False, chunk_size=128,
    )  # fmt: skip
    assert post.samples.shape == (256, 4, 3)
    assert np.all(post.noise_std == NOISE)
    assert post.diagnostics["finite"].all()
    draws = post.flat_samples()
    # Draws of one chain are correlated: count half of them as independent.
    n_eff = draws.shape[0] / 2
    z_mean = (draws.mean(0) - mean) / np.sqrt(np.diag(cov) / n_eff)
    var = np.diag(cov)
    se_cov = np.sqrt((np.outer(var, var) + cov**2) / n_eff)  # sd of a sample covariance
    z_cov = (np.cov(draws.T) - cov) / se_cov
    assert np.abs(z_mean).max() < 4, z_mean
    assert np.abs(z_cov).max() < 4, z_cov
    assert post.diagnostics["num_grad_evals"].min() > 300
    assert post.timings["compile_s"] >= 0 and post.timings["run_s"] > 0


def test_adjusted_mclmc_trajectories_are_capped_for_a_degenerate_chain():
    """A chain whose tuner drove its step size to the floor must not make every chain of the
    batch wait on a trajectory of 10^5 steps (nor a NaN average on an undefined one)."""
    from symbnn.sampling.kernels.adjusted_mclmc import trajectory_length

    def lengths(avg):
        return np.asarray(jax.vmap(lambda t: trajectory_length(t, avg, target=2.0))(steps))

    steps = np.arange(1, 200)
    tuned = lengths(2.0)
    assert tuned.min() >= 1 and 1.5 < tuned.mean() < 2.5  # the cap leaves tuned chains alone
    stuck = lengths(2.0 / 1e-5)
    assert stuck.max() == 10 and stuck.max() > tuned.max()
    assert lengths(np.nan).tolist() == [1] * len(steps)


def test_positive_inverse_mass_replaces_unusable_entries_by_the_smallest_usable():
    from symbnn.sampling.kernels.base import positive_inverse_mass

    got = positive_inverse_mass(np.asarray([2e-4, -5e-6, 3e-6, np.nan, np.inf, 0.0], np.float32))
    np.testing.assert_array_equal(got, np.asarray([2e-4, 3e-6, 3e-6, 3e-6, 3e-6, 3e-6], np.float32))
    np.testing.assert_array_equal(positive_inverse_mass(np.asarray([-1.0, np.nan])), [1.0, 1.0])


@pytest.mark.parametrize("kernel", ["adjusted_mclmc", "mclmc"])
def test_mclmc_tuners_resolve_narrow_coordinates_far_from_zero(kernel):
    """Coordinates at 30 with a spread of 1e-3 (a deep fit's weights): in float32 the tuners'
    `E[x²] - E[x]²` loses their variances in absolute coordinates (negative entries, NaN
    proposals, chains stuck at the step-size floor); measured from each chain's start it
    resolves them, and every chain moves with a step of the wide coordinate's order."""
    import jax.numpy as jnp

    k = KERNELS[kernel]
    mean = jnp.asarray([0.0] + [30.0] * 7, jnp.float32)
    scale = jnp.asarray([1.0] + [1e-3] * 7, jnp.float32)

    def logdensity(x):
        return -0.5 * jnp.sum(((x - mean) / scale) ** 2)

    chains = 16
    # In float32, as `sample` runs by default (float64 resolves these variances anyway).
    with jax.enable_x64(False):
        starts = mean + scale * jax.random.normal(jax.random.key(1), (chains, 8))
        keys = jax.random.split(jax.random.key(0), chains)
        draws, info = k.run(
            logdensity, starts, keys, num_warmup=400, num_samples=100, thinning=1,
            options=k.Options(),
        )  # fmt: skip
    imm = np.asarray(info.inverse_mass_matrix)
    assert (imm > 0).all() and np.isfinite(np.asarray(info.step_size)).all()
    # Whitened, every coordinate is standard normal: the tuned step must not collapse (it
    # fell to ~2e-6, the floor, before; `mclmc` now tunes >= 0.012, `adjusted_mclmc` ~3).
    assert np.asarray(info.step_size).min() > 1e-3, info.step_size
    if kernel == "adjusted_mclmc":  # (`mclmc`'s energy tuner keeps smaller steps in float32)
        assert np.asarray(info.acceptance_rate).min() > 0.5, info.acceptance_rate
        moved = np.asarray(jnp.std(draws[:, :, 0], axis=1))
        assert (moved > 0.1).all(), moved
    sd = float(jnp.std(draws[:, :, 1:]))
    assert 0.7e-3 < sd < 1.4e-3, sd


@pytest.mark.parametrize(("settle_steps", "num_samples", "thinning"), [(5, 3, 2), (0, 2, 1)])
def test_settle_and_sample_is_the_two_phases_in_one_loop(settle_steps, num_samples, thinning):
    from typing import NamedTuple

    import jax.numpy as jnp

    from symbnn.sampling.kernels.base import sample_phase, settle_and_sample

    class State(NamedTuple):
        position: jax.Array
        logdensity: jax.Array

    def step(key, s):  # a random walk on a Gaussian: enough to tell the steps apart
        p = s.position + 0.3 * jax.random.normal(key, s.position.shape)
        return State(p, -0.5 * jnp.sum(p**2)), jnp.sum(p)

    start = State(jnp.ones(3), jnp.asarray(-1.5))
    k1, k2 = jax.random.split(jax.random.key(0))
    positions, settle_infos, infos, drift = settle_and_sample(
        step, start, k1, k2, settle_steps, num_samples, thinning
    )
    settled, want_settle = jax.lax.scan(
        lambda s, k: step(k, s), start, jax.random.split(k1, settle_steps)
    )
    want_positions, want_infos = sample_phase(step, settled, k2, num_samples, thinning)
    np.testing.assert_allclose(positions, want_positions, rtol=1e-6)
    np.testing.assert_allclose(settle_infos, want_settle, rtol=1e-6)
    np.testing.assert_allclose(infos, want_infos, rtol=1e-6)
    if settle_steps:
        np.testing.assert_allclose(drift, settled.logdensity - start.logdensity, rtol=1e-6)
    else:
        assert np.isnan(drift)


def test_results_do_not_depend_on_chunk_size_or_chain_position():
    x, y = linear_data()
    one = symbnn.sample(LINEAR, x, y, num_chains=6, num_samples=3, progress=False, **CHEAP)
    chunked = symbnn.sample(
        LINEAR, x, y, num_chains=6, num_samples=3, chunk_size=4, progress=False, **CHEAP
    )
    later = symbnn.sample(
        LINEAR, x, y, num_chains=4, num_samples=3, chunk_size=4, first_chain=2,
        progress=False, **CHEAP,
    )  # fmt: skip
    assert chunked.settings["num_chunks"] == 2
    # Equal up to rounding (XLA may order a reduction differently for another batch width).
    np.testing.assert_allclose(one.samples, chunked.samples, rtol=0, atol=1e-12)
    np.testing.assert_allclose(one.samples[2:], later.samples, rtol=0, atol=1e-12)
    assert later.timings["compile_s"] < chunked.timings["compile_s"]  # a cached program
    assert later.settings["compile_cached"]
    # The chains moved, and differ from one another.
    assert not np.allclose(one.samples[:, 0], one.samples[:, -1])
    assert len(np.unique(one.samples[:, -1, 0])) == 6
    other_seed = symbnn.sample(
        LINEAR, x, y, num_chains=6, num_samples=3, seed=1, progress=False, **CHEAP
    )
    assert not np.allclose(other_seed.samples, one.samples)


def test_default_chunk_keeps_a_cpu_gradient_in_cache_and_accelerators_wide():
    from types import SimpleNamespace

    from symbnn.sampling.driver import CPU_LAYER_BYTES, DEFAULT_CHUNK, default_chunk

    f2 = symbnn.MLP(5, (16, 16, 16))
    cpu = [SimpleNamespace(platform="cpu")]
    gpu = [SimpleNamespace(platform="gpu")]
    cap = CPU_LAYER_BYTES // (1202 * 16 * 4)  # f2 on airfoil's 1202 rows, float32
    chunk = default_chunk(1274, f2, 1202, 4, cpu)
    num_chunks = -(-1274 // chunk)
    assert chunk <= cap and num_chunks == -(-1274 // cap)  # the fewest chunks under the cap...
    assert num_chunks * chunk - 1274 < num_chunks  # ...holding the chains evenly
    assert default_chunk(1274, f2, 1202, 8, cpu) < chunk  # float64 takes twice the bytes
    assert default_chunk(1274, f2, 1202, 4, gpu) == 1274
    assert default_chunk(10_000, f2, 1202, 4, gpu) == 3334  # three even chunks under 4096
    assert default_chunk(1274, symbnn.MLP(1, (3,)), 120, 4, cpu) == 1274  # small: one chunk
    assert default_chunk(3, f2, 10**7, 8, cpu) == 1  # at least one chain
    assert DEFAULT_CHUNK == 4096


_DEVICES_SCRIPT = textwrap.dedent(
    """
    import json, jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import symbnn
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)); y = x @ np.array([0.7, -0.4]) + 0.3 + 0.5 * rng.normal(size=40)
    spec = symbnn.MLP(2, hidden=(), activation="identity")
    opts = dict(num_chains=10, num_samples=3, kernel="hmc", num_warmup=0, noise_std=0.5,
                initial_step_size=0.05, num_integration_steps=3, progress=False)
    devs = jax.devices()
    runs = {
        "one": symbnn.sample(spec, x, y, devices=devs[:1], **opts),
        "eight": symbnn.sample(spec, x, y, devices=devs, chunk_size=16, **opts),
        "three": symbnn.sample(spec, x, y, devices=devs[:3], chunk_size=4, **opts),
    }
    print(json.dumps({
        "num_devices": len(devs),
        "settings": {k: [p.settings["num_devices"], p.settings["chunk_size"]]
                     for k, p in runs.items()},
        "max_diff": [float(np.abs(runs["one"].samples - p.samples).max()) for p in runs.values()],
    }))
    """
)


def test_results_do_not_depend_on_the_number_of_devices():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
    }
    out = subprocess.run(
        [sys.executable, "-c", _DEVICES_SCRIPT], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["num_devices"] == 8
    # Chunks are rounded up to a multiple of the device count: 16 chains on 8 devices, 6 on 3.
    assert res["settings"] == {"one": [1, 10], "eight": [8, 16], "three": [3, 6]}
    # Equal up to rounding: XLA may order a reduction differently for another batch width.
    assert max(res["max_diff"]) < 1e-12


@pytest.mark.parametrize("optimizer", ["auto", "adam", "lbfgs", "adam_lbfgs"])
def test_ensemble_init_starts_at_the_mode(optimizer):
    x, y = linear_data()
    mean, _ = exact_posterior(x, y)  # the posterior is Gaussian: its mean is the mode
    options = {"num_steps": 400, "learning_rate": 0.05, "holdout": 0, "optimizer": optimizer}
    post = symbnn.sample(
        LINEAR, x, y, num_chains=4, num_samples=1, noise_std=NOISE, init_options=options,
        progress=False, **{**CHEAP, "init": "ensemble"},
    )  # fmt: skip
    ld = LINEAR.logdensity_fn(x, y)
    at_mode = float(ld(np.append(mean, np.log(NOISE))))
    np.testing.assert_allclose(post.diagnostics["init_log_density"], at_mode, atol=1e-4)
    assert post.settings["init"] == "ensemble"
    assert post.settings["init_options"]["optimizer"] == optimizer


def test_ensemble_starts_stop_early_instead_of_interpolating():
    # More weights than rows: trained to the end, the starts interpolate the training set and
    # the noise sd collapses; stopped on held-out rows, they keep a sd near the true 0.3.
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(24, 3))
    y = np.sin(x[:, 0]) + 0.3 * rng.normal(size=24)
    spec = symbnn.MLP(3, hidden=(16, 16))
    sd = {}
    for holdout in (0, 0.2):
        post = symbnn.sample(
            spec, x, y, num_chains=4, num_samples=1, progress=False, init="ensemble",
            init_options={"num_steps": 2000, "holdout": holdout, "check_every": 50},
            kernel="hmc", num_warmup=0, initial_step_size=1e-6, num_integration_steps=1,
        )  # fmt: skip
        sd[holdout] = float(np.median(post.noise_std))
    assert sd[0] < 0.05 and sd[0.2] > 0.1, sd


@pytest.mark.parametrize(
    ("hidden", "expected", "optimizer"),
    # 13 weights < 40 rows; 65 weights >= 40 rows
    [((3,), 0.0, "adam_lbfgs"), ((8, 4), 0.1, "adam")],
)
def test_ensemble_starts_hold_out_rows_only_where_the_network_can_interpolate(
    hidden, expected, optimizer
):
    # "auto" (the default): the held-out stop and Adam where weights >= rows, training to the
    # end with Adam then L-BFGS elsewhere, so its draws equal those of the explicit settings.
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(40, 2))
    y = np.sin(x[:, 0]) + 0.3 * rng.normal(size=40)
    spec = symbnn.MLP(2, hidden=hidden)
    assert holdout_fraction("auto", spec, len(x)) == expected
    assert resolve_optimizer("auto", expected) == optimizer
    draws = {}
    for holdout, opt in (("auto", "auto"), (expected, optimizer)):
        post = symbnn.sample(
            spec, x, y, num_chains=2, progress=False, kernel="hmc", num_warmup=0,
            initial_step_size=1e-3,
            init_options={
                "num_steps": 200, "holdout": holdout, "check_every": 50, "optimizer": opt
            },
        )  # fmt: skip
        draws[holdout] = post.samples
        assert post.settings["init_options"]["holdout"] == holdout
    np.testing.assert_array_equal(draws["auto"], draws[expected])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"holdout": 0.5}, r"holdout must be 'auto' or a fraction in \[0, 0.5\), got 0.5"),
        ({"holdout": True}, "holdout must be 'auto' or a fraction"),
        ({"holdout": "always"}, "holdout must be 'auto' or a fraction"),
        ({"check_every": 0}, "check_every must be an integer >= 1"),
    ],
)
def test_ensemble_holdout_options_are_checked(options, match):
    x, y = linear_data()
    with pytest.raises(SymbnnError, match=match):
        symbnn.sample(LINEAR, x, y, num_chains=2, init="ensemble", init_options=options)


def test_explicit_starts_and_a_non_finite_chain_is_flagged_not_dropped():
    x, y = linear_data()
    starts = np.zeros((3, LINEAR.position_size))
    starts[1, 0] = 1e200  # its log density overflows: the chain cannot move
    with pytest.warns(RuntimeWarning, match="1 of 3 chains ended non-finite"):
        post = symbnn.sample(
            LINEAR, x, y, num_chains=3, num_samples=2, progress=False, **{**CHEAP, "init": starts}
        )
    assert post.samples.shape == (3, 2, 3) and post.noise_std.shape == (3, 2)
    assert post.diagnostics["finite"].tolist() == [True, False, True]
    ld = LINEAR.logdensity_fn(x, y)
    assert post.diagnostics["init_log_density"][0] == pytest.approx(float(ld(starts[0])))


def test_classification_has_no_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 2))
    y = (x[:, 0] > 0).astype(int)
    spec = symbnn.MLP(2, hidden=(2,), out_features=2, likelihood="categorical")
    post = symbnn.sample(spec, x, y, num_chains=2, num_samples=2, progress=False, **CHEAP)
    assert post.noise_std is None
    assert post.samples.shape == (2, 2, spec.num_params)


def _bad(**kw):
    x, y = linear_data()
    args = dict(x=x, y=y, num_chains=2, num_warmup=5, progress=False)
    args.update(kw)
    spec = args.pop("spec", LINEAR)
    return symbnn.sample(spec, args.pop("x"), args.pop("y"), **args)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y": np.zeros(39)}, ShapeError, r"\(40, 1\) to match x"),
        ({"x": np.zeros((40, 3))}, ShapeError, r"shape \(n, 2\)"),
        ({"x": np.zeros(40)}, ShapeError, r"shape \(n, 2\)"),
        ({"x": np.full((40, 2), np.nan)}, DataError, "x: row 0, column 0 is not finite"),
        ({"y": np.full(40, np.inf)}, DataError, "y: row 0, column 0 is not finite"),
        ({"num_chains": 0}, SymbnnError, "num_chains"),
        ({"num_chains": 2.5}, SymbnnError, "num_chains"),
        ({"num_chains": True}, SymbnnError, "num_chains"),
        ({"num_samples": 0}, SymbnnError, "num_samples"),
        ({"thinning": 0}, SymbnnError, "thinning"),
        ({"num_warmup": -1}, SymbnnError, "num_warmup"),
        ({"chunk_size": 0}, SymbnnError, "chunk_size"),
        ({"kernel": "gibbs"}, UnsupportedError, "unknown kernel 'gibbs'"),
        ({"kernel": "nuts", "num_integration_steps": 3}, SymbnnError, "no option"),
        ({"init": "zeros"}, SymbnnError, "init must be one of"),
        ({"init": np.zeros((3, 4))}, ShapeError, r"shape \(2, 4\)"),
        ({"init": np.full((2, 4), np.nan)}, NonFiniteError, "chain 0"),
        ({"init": "prior", "init_options": {"num_steps": 5}}, SymbnnError, "init='ensemble' only"),
        ({"init": "ensemble", "init_options": {"lr": 1}}, SymbnnError, "unknown init_options"),
        ({"noise_std": -1.0}, SymbnnError, "noise_std"),
        ({"devices": []}, SymbnnError, "devices"),
        ({"spec": "f1"}, SymbnnError, "spec must be an MLP"),
        ({"kernel": "chees", "ensemble_size": 0}, SymbnnError, "ensemble_size"),
    ],
)
def test_bad_input_is_refused_before_compiling(kwargs, error, match):
    with pytest.raises(error, match=match):
        _bad(**kwargs)


def test_noise_std_is_for_regression_only():
    spec = symbnn.MLP(2, hidden=(2,), out_features=2, likelihood="categorical")
    with pytest.raises(SymbnnError, match="regression"):
        symbnn.sample(spec, np.zeros((4, 2)), np.zeros(4, int), num_chains=1, noise_std=1.0)
    with pytest.raises(SymbnnError, match="class labels"):
        symbnn.sample(spec, np.zeros((4, 2)), np.full(4, 2), num_chains=1)


def test_cli_sample_writes_a_posterior(tmp_path, capsys):
    from symbnn.cli import main

    out = tmp_path / "post.npz"
    argv = [
        "sample", "--dataset", "sinusoidal", "--hidden", "3", "--chains", "3",
        "--kernel", "hmc", "--warmup", "0", "--samples", "2", "--option", "initial_step_size=0.01",
        "--option", "num_integration_steps=2", "--no-progress", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    post = symbnn.load_posterior(out)
    assert post.samples.shape == (3, 2, 10)
    assert post.settings["kernel_options"]["num_integration_steps"] == 2
    assert post.settings["data"]["name"] == "sinusoidal"
    assert "test LPPD" in capsys.readouterr().out


def test_cli_sample_reports_bad_options(capsys):
    from symbnn.cli import main

    argv = ["sample", "--dataset", "sinusoidal", "--chains", "2", "--option", "nope"]
    assert main(argv) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
