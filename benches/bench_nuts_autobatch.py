"""Autobatched many-chain NUTS against vmapped BlackJAX NUTS, on the study's `f1` posterior.

`f1` (MLP 1-3-1, tanh) on the study's sinusoidal split (120 training points), NUTS with
window adaptation (initial step size 1, target acceptance 0.8), one draw per chain.

Run as a script for the numbers (the study's setting is `--chains 1274 --warmup 1024`):

    python benches/bench_nuts_autobatch.py --chains 1274 --warmup 1024 --baseline-chains 16

(the data folder is `$SYMBNN_DATA_DIR`, default `../shared/datasets`), or under
pytest-benchmark (a small setting; `SYMBNN_BENCH_CHAINS`/`SYMBNN_BENCH_WARMUP` scale it):

    pytest benches/bench_nuts_autobatch.py --benchmark-enable

Reported: compile and run wall time, loop trips against gradient evaluations per chain (the
lockstep waste), test LPPD (mean over test points of log (1/S) sum_s N(y | f_s(x), σ_s²)), and
vmapped BlackJAX NUTS + window adaptation on fewer chains, scaled linearly to the same count (a
lower bound: the deepest tree among more chains is no shallower).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

# The study's data folder (sinusoidal.data + splits.json); never copied into the project.
DATA_DIR = os.environ.get("SYMBNN_DATA_DIR", "../shared/datasets")


def problem(dtype):
    import symbnn

    data = symbnn.datasets.load("sinusoidal", data_dir=DATA_DIR)
    model = symbnn.MLP(1, (3,), 1, "tanh")
    x, y = jnp.asarray(data.x_train, dtype), jnp.asarray(data.y_train, dtype)
    return model, data, model.logdensity_fn(x, y)


def lppd_on_test_split(model, data, samples) -> float:
    """Test LPPD over all draws of all chains: `samples` (chains, draws, d)."""
    theta, log_sigma = model.split_position(
        jnp.asarray(samples, jnp.float64).reshape(-1, model.position_size)
    )
    f = model.apply(theta, jnp.asarray(data.x_test, jnp.float64))[..., 0]  # (S, n)
    y = jnp.asarray(data.y_test, jnp.float64)[:, 0]
    z = (y - f) / jnp.exp(log_sigma)[:, None]
    logp = -0.5 * z**2 - log_sigma[:, None] - 0.5 * math.log(2 * math.pi)
    ok = jnp.all(jnp.isfinite(logp), axis=1)
    logp = logp[ok]
    lse = jax.scipy.special.logsumexp(logp, axis=0) - math.log(logp.shape[0])
    return float(jnp.mean(lse))


def start(model, chains, dtype, seed=0):
    keys = jax.random.split(jax.random.key(seed), chains)
    positions = jax.vmap(lambda k: model.init_position(jax.random.fold_in(k, 1)))(keys)
    return positions.astype(dtype), keys


def run_autobatched(chains, warmup, draws=1, dtype=jnp.float32, seed=0):
    from symbnn.sampling.nuts_engine import build_run_nuts

    model, data, logdensity = problem(dtype)
    positions, keys = start(model, chains, dtype, seed)
    run = build_run_nuts(logdensity, num_warmup=warmup, num_samples=draws)
    t0 = time.perf_counter()
    compiled = run.lower(positions, keys).compile()
    t1 = time.perf_counter()
    samples, info = jax.block_until_ready(compiled(positions, keys))
    t2 = time.perf_counter()
    info = {k: np.asarray(v) for k, v in info._asdict().items()}
    grads = info["num_grad_evals"]
    trips = int(info["loop_trips"][0])
    return {
        "engine": "autobatched",
        "dtype": jnp.dtype(dtype).name,
        "chains": chains,
        "warmup": warmup,
        "compile_s": t1 - t0,
        "run_s": t2 - t1,
        "loop_trips": trips,
        "grad_evals_mean": float(grads.mean()),
        "grad_evals_max": int(grads.max()),
        "waste": trips / float(grads.mean()),
        "leapfrogs_per_iteration": float((grads.mean() - 1) / (warmup + draws)),
        "us_per_chain_trip": 1e6 * (t2 - t1) / trips / chains,
        "step_size_median": float(np.median(info["step_size"])),
        "divergences_mean": float(info["divergences"].mean()),
        "acceptance_mean": float(info["acceptance_rate"].mean()),
        "finite": int(np.isfinite(np.asarray(samples)).all(axis=(1, 2)).sum()),
        "lppd": lppd_on_test_split(model, data, np.asarray(samples)),
    }


def run_blackjax_vmapped(chains, warmup, dtype=jnp.float32, seed=0):
    """BlackJAX's `window_adaptation` + one NUTS draw per chain, `vmap` over chains."""
    import blackjax

    model, data, logdensity = problem(dtype)
    positions, keys = start(model, chains, dtype, seed)
    warmup_fn = blackjax.window_adaptation(blackjax.nuts, logdensity)

    def one_chain(key, position):
        (state, params), info = warmup_fn.run(key, position, num_steps=warmup)
        kernel = blackjax.nuts(logdensity, **params)
        state, last = kernel.step(jax.random.fold_in(key, warmup), state)
        steps = jnp.append(info.info.num_integration_steps, last.num_integration_steps)
        return state.position, steps

    fn = jax.jit(jax.vmap(one_chain))
    t0 = time.perf_counter()
    compiled = fn.lower(keys, positions).compile()
    t1 = time.perf_counter()
    draws, steps = jax.block_until_ready(compiled(keys, positions))
    t2 = time.perf_counter()
    return {
        "engine": "blackjax-vmap",
        "dtype": jnp.dtype(dtype).name,
        "chains": chains,
        "warmup": warmup,
        "compile_s": t1 - t0,
        "run_s": t2 - t1,
        "grad_evals_mean": float(np.mean(steps.sum(1))),
        # vmapped while loops run until the longest trajectory of the iteration is done
        "lockstep_trips": int(np.asarray(steps).max(0).sum()),
        "waste": float(np.asarray(steps).max(0).sum() / np.mean(steps.sum(1))),
        "lppd": lppd_on_test_split(model, data, np.asarray(draws)[:, None]),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chains", type=int, default=1274)
    p.add_argument("--warmup", type=int, default=1024)
    p.add_argument("--baseline-chains", type=int, default=16, help="0 skips the baseline")
    p.add_argument("--float64-chains", type=int, default=0, help="float32 vs float64 LPPD check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="write the results as JSON")
    args = p.parse_args(argv)
    results = [run_autobatched(args.chains, args.warmup, seed=args.seed)]
    print(json.dumps(results[-1]), flush=True)
    if args.baseline_chains:
        base = run_blackjax_vmapped(args.baseline_chains, args.warmup, seed=args.seed)
        base["run_s_scaled_to_chains"] = base["run_s"] * args.chains / args.baseline_chains
        results.append(base)
        print(json.dumps(results[-1]), flush=True)
    if args.float64_chains:
        jax.config.update("jax_enable_x64", True)
        for dtype in (jnp.float32, jnp.float64):
            results.append(
                run_autobatched(args.float64_chains, args.warmup, dtype=dtype, seed=args.seed)
            )
            print(json.dumps(results[-1]), flush=True)
    if args.output:
        tmp = args.output + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, args.output)


def test_autobatched_vs_vmapped_blackjax(benchmark):
    """Small setting by default; both engines in one run, same machine."""
    chains = int(os.environ.get("SYMBNN_BENCH_CHAINS", 64))
    warmup = int(os.environ.get("SYMBNN_BENCH_WARMUP", 128))
    ours = benchmark.pedantic(run_autobatched, args=(chains, warmup), rounds=1, iterations=1)
    base = run_blackjax_vmapped(min(chains, 16), warmup)
    benchmark.extra_info.update(
        autobatched=ours,
        blackjax_vmap=base,
        blackjax_scaled_s=base["run_s"] * chains / base["chains"],
    )
    assert ours["finite"] == chains and ours["waste"] < 3


if __name__ == "__main__":
    main()
