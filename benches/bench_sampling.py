"""Benchmark: symbnn's kernels against NumPyro NUTS on the study's f1 / sinusoidal set-up.

    python benches/bench_sampling.py --data-dir ../shared/datasets            # full run
    python benches/bench_sampling.py --chains 128 --kernels mclmc,chees        # a smaller one

The study's protocol (paper.md §5): 1274 chains, 1024 warm-up steps, one draw each, f1 (one
hidden layer of 3 tanh), the study's sinusoidal split (120 training points), float32.

Side by side in one run, each method in its own subprocess (so a timeout can cap it):
- `symbnn:<kernel>`: `symbnn.sample`, wall time with compilation, and test LPPD.
- `numpyro:seq`: NumPyro NUTS one chain at a time (the study's code path): a few chains are
  timed after a compiling run and the per-chain time is scaled to all chains.
- `numpyro:vec`: NumPyro NUTS with `chain_method="vectorized"`; a run past `--timeout` is
  reported as a lower bound (`>= timeout`).
Plus the floor: gradient evaluations the run needs × flops per gradient / the machine's
measured flop rate, and the same count over the measured rate of a bare vmapped gradient loop.

Data: `--data-dir` or `$SYMBNN_DATA_DIR` (a folder with sinusoidal.data and splits.json); the
benchmark is skipped (exit 0) when neither exists. Results: a table on stdout, JSON via --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


# --- the measurements (each runs in a worker subprocess) ---------------------------------------
def _data(args):
    import symbnn

    data = symbnn.datasets.load(args.dataset, data_dir=args.data_dir)
    hidden = tuple(int(h) for h in args.hidden.split("x"))
    return data, symbnn.MLP(data.in_features, hidden, activation="tanh")


def _lppd(spec, samples, noise_std, x, y) -> float:
    """Test LPPD of flat draws `(S, d)` with their noise sd `(S,)`, through `symbnn.lppd`."""
    from types import SimpleNamespace

    import numpy as np

    import symbnn

    post = SimpleNamespace(
        spec=spec,
        samples=np.asarray(samples)[:, None, :],
        noise_std=np.asarray(noise_std).reshape(-1, 1),
    )
    return float(symbnn.lppd(post, x, y).mean)


def worker_symbnn(args, kernel: str) -> dict:
    import numpy as np

    import symbnn

    data, spec = _data(args)
    t0 = time.perf_counter()
    post = symbnn.sample(
        spec, data.x_train, data.y_train, num_chains=args.chains, num_warmup=args.warmup,
        num_samples=1, kernel=kernel, seed=args.seed, progress=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    ok = post.diagnostics["finite"]
    grads = post.diagnostics["num_grad_evals"]
    return {
        "wall_s": wall,
        "compile_s": post.timings["compile_s"],
        "run_s": post.timings["run_s"],
        "test_lppd": _lppd(
            spec,
            post.samples[ok].reshape(-1, spec.num_params),
            post.noise_std[ok].ravel(),
            data.x_test,
            data.y_test,
        ),  # fmt: skip
        "grads_per_chain": float(np.mean(grads)),
        "total_grads": float(np.sum(grads)),
        "non_finite_chains": int(np.sum(~ok)),
        "chains_with_divergences": int(np.sum(post.diagnostics["divergences"] > 0)),
        "step_size_median": float(np.median(post.diagnostics["step_size"])),
    }


def _numpyro_model(sizes):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    # The study's model (as in ../shared/tools/numpyro_baseline.py).
    def model(x, y):
        h = x
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            w = numpyro.sample(f"W{i}", dist.Normal(jnp.zeros((a, b)), 1.0))
            c = numpyro.sample(f"b{i}", dist.Normal(jnp.zeros(b), 1.0))
            h = h @ w + c
            if i < len(sizes) - 2:
                h = jnp.tanh(h)
        s = numpyro.sample("std", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(h, s), obs=y)

    return model


def _numpyro_lppd(spec, draws, data) -> float:
    import numpy as np

    layers = []
    for i in range(spec.num_layers):
        w = np.asarray(draws[f"W{i}"])
        layers += [w.reshape(len(w), -1), np.asarray(draws[f"b{i}"])]
    theta = np.concatenate(layers, axis=1)
    return _lppd(spec, theta, np.asarray(draws["std"]), data.x_test, data.y_test)


def worker_numpyro(args, mode: str) -> dict:
    import jax
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    data, spec = _data(args)
    model = _numpyro_model(spec.sizes)
    x, y = data.x_train, data.y_train
    if mode == "vec":
        mcmc = MCMC(
            NUTS(model), num_warmup=args.warmup, num_samples=1, num_chains=args.chains,
            chain_method="vectorized", progress_bar=False,
        )  # fmt: skip
        t0 = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(args.seed), x, y)
        draws = jax.block_until_ready(mcmc.get_samples())
        wall = time.perf_counter() - t0
        return {"wall_s": wall, "test_lppd": _numpyro_lppd(spec, draws, data)}
    # One chain at a time, as the study's code: the first run compiles, the next ones are timed.
    mcmc = MCMC(NUTS(model), num_warmup=args.warmup, num_samples=1, progress_bar=False)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seq_chains + 1)
    t0 = time.perf_counter()
    mcmc.run(keys[0], x, y, extra_fields=("num_steps",))  # same call as below: compiled once
    first = time.perf_counter() - t0
    draws, grads = [], []
    t0 = time.perf_counter()
    for k in keys[1:]:
        mcmc.run(k, x, y, extra_fields=("num_steps",))
        draws.append(mcmc.get_samples())
        grads.append(int(np.sum(mcmc.get_extra_fields()["num_steps"])))
    per_chain = (time.perf_counter() - t0) / args.seq_chains
    merged = {k: np.concatenate([np.asarray(d[k]) for d in draws]) for k in draws[0]}
    return {
        "wall_s": first + per_chain * (args.chains - 1),  # scaled to all chains
        "per_chain_s": per_chain,
        "first_run_s": first,
        "timed_chains": args.seq_chains,
        "test_lppd_few_chains": _numpyro_lppd(spec, merged, data),
        "sampling_grads_per_chain": float(np.mean(grads)),  # the draw's steps only
    }


def worker_floor(args) -> dict:
    """The machine's float32 matmul rate and the rate of a bare vmapped gradient loop on this
    posterior: the fastest any sampler built from the model's gradients can go here."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    jax.block_until_ready(mm(a))
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        jax.block_until_ready(mm(a))
    flops = reps * 2 * 2048**3 / (time.perf_counter() - t0)

    data, spec = _data(args)
    ld = spec.logdensity_fn(data.x_train, data.y_train)
    grad = jax.vmap(jax.grad(ld))
    steps = 200

    @jax.jit
    def loop(p):  # a leapfrog-like chain of dependent gradient calls
        return jax.lax.scan(lambda p, _: (p + 1e-3 * grad(p), None), p, None, length=steps)[0]

    p = jax.vmap(spec.init_position)(jax.random.split(jax.random.key(0), args.chains))
    jax.block_until_ready(loop(p))
    t0 = time.perf_counter()
    jax.block_until_ready(loop(p))
    grad_rate = args.chains * steps / (time.perf_counter() - t0)
    return {
        "matmul_flops_per_s": flops,
        "vmapped_grads_per_s": grad_rate,
        "flops_per_grad": flops_per_gradient(spec.sizes, len(data.x_train)),
    }


def flops_per_gradient(sizes, n: int) -> float:
    """Forward pass: 2·a·b + b per layer and point, one flop per tanh (a floor: tanh costs
    more), ~6 per point for the Gaussian log likelihood; the backward pass costs about twice
    the forward one."""
    forward = sum(n * (2 * a * b + b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    forward += n * sum(sizes[1:-1]) + 6 * n
    return 3.0 * forward


# --- the driver ---------------------------------------------------------------------------------
def _run(args, method: str, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, *args.passthrough]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "timeout": True, "wall_s": time.perf_counter() - t0}
    if out.returncode != 0:
        return {"method": method, "error": out.stderr.strip().splitlines()[-1:]}
    return {"method": method, **json.loads(out.stdout.strip().splitlines()[-1])}


def _table(results, floor, args) -> str:
    seq = next((r for r in results if r["method"] == "numpyro:seq" and "per_chain_s" in r), None)
    vec = next((r for r in results if r["method"] == "numpyro:vec"), None)
    rows = [
        "| method | wall s (compile incl.) | compile s | test LPPD | grads/chain "
        "| vs NumPyro seq | vs NumPyro vec | run / flop floor | run / grad-loop floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['method']} | error: {r['error']} | | | | | | | |")
            continue
        wall = r["wall_s"]
        shown = f">= {wall:.0f} (timeout)" if r.get("timeout") else f"{wall:.1f}"
        lppd = r.get("test_lppd", r.get("test_lppd_few_chains"))
        lppd_s = "" if lppd is None else f"{lppd:.3f}"
        vs_seq = f"{seq['wall_s'] / wall:.0f}×" if seq and r["method"].startswith("symbnn") else ""
        vs_vec = ""
        if vec and r["method"].startswith("symbnn"):
            vs_vec = f"{'>= ' if vec.get('timeout') else ''}{vec['wall_s'] / wall:.1f}×"
        floors = ["", ""]
        if "total_grads" in r and floor:
            flop_floor = r["total_grads"] * floor["flops_per_grad"] / floor["matmul_flops_per_s"]
            loop_floor = r["total_grads"] / floor["vmapped_grads_per_s"]
            floors = [f"{r['run_s'] / flop_floor:.0f}", f"{r['run_s'] / loop_floor:.1f}"]
        grads = r.get("grads_per_chain", "")
        grads_s = f"{grads:.0f}" if grads != "" else ""
        rows.append(
            f"| {r['method']} | {shown} | {r.get('compile_s', float('nan')):.1f} | {lppd_s} "
            f"| {grads_s} | {vs_seq} | {vs_vec} | {floors[0]} | {floors[1]} |"
        )
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("SYMBNN_DATA_DIR"))
    p.add_argument("--dataset", default="sinusoidal")
    p.add_argument("--hidden", default="3")
    p.add_argument("--chains", type=int, default=1274)
    p.add_argument("--warmup", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kernels", default="nuts,chees,mclmc")
    p.add_argument("--baselines", default="seq,vec", help="numpyro modes to run ('' for none)")
    p.add_argument("--seq-chains", type=int, default=3, help="chains NumPyro seq times")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per method")
    p.add_argument("--vec-timeout", type=float, default=600, help="seconds for numpyro:vec")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.data_dir is None or not (Path(args.data_dir) / f"{args.dataset}.data").exists():
        print("skipped: no data (give --data-dir or set SYMBNN_DATA_DIR)")
        return 0

    if args.worker:
        kind, _, what = args.worker.partition(":")
        fn = {"symbnn": worker_symbnn, "numpyro": worker_numpyro}.get(kind)
        res = worker_floor(args) if kind == "floor" else fn(args, what)
        print(json.dumps(res))
        return 0

    args.passthrough = [
        "--data-dir", str(args.data_dir), "--dataset", args.dataset, "--hidden", args.hidden,
        "--chains", str(args.chains), "--warmup", str(args.warmup), "--seed", str(args.seed),
        "--seq-chains", str(args.seq_chains),
    ]  # fmt: skip
    import platform

    setup = {
        "dataset": args.dataset, "hidden": args.hidden, "chains": args.chains,
        "warmup": args.warmup, "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores", "load_avg_at_start": os.getloadavg()[0],
    }  # fmt: skip
    print(json.dumps(setup), flush=True)
    floor = _run(args, "floor:", args.timeout)
    print(json.dumps(floor), flush=True)
    results = []
    methods = [f"symbnn:{k}" for k in args.kernels.split(",") if k]
    methods += [f"numpyro:{m}" for m in args.baselines.split(",") if m]
    for m in methods:
        timeout = args.vec_timeout if m == "numpyro:vec" else args.timeout
        results.append(_run(args, m, timeout))
        print(json.dumps(results[-1]), flush=True)
    print(_table(results, floor if "error" not in floor else None, args))
    if args.out:
        args.out.write_text(json.dumps({"setup": setup, "floor": floor, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
