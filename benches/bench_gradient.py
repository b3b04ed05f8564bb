"""The batched gradient of the log density: per-chain vmap against the package's form, side by
side in one run, µs per chain and gradient.

    python benches/bench_gradient.py --data-dir ../shared/datasets [--chains 1274] [--float64]

Rows: f1 and f2 on the study's data sets (and a few other narrow shapes on sinusoidal-sized
random data). `vmap`: `jax.vmap(jax.value_and_grad(per_chain))`, the per-chain log density
batched by JAX (batched matrix products); `symbnn`: the same over `spec.logdensity_fn(x, y)`,
which computes narrow networks chains-last and wide ones with the shared inputs' product for
all chains at once (`symbnn.model._chains_last`). Each is timed as one
jitted `fori_loop` of gradient steps (compiled and warmed first). Run it on an otherwise idle
machine and report the load (`uptime`) with the numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

NETWORKS = {"f1": (3,), "f2": (16, 16, 16)}


def timed(grad, start, trips: int) -> float:
    loop = jax.jit(lambda q: jax.lax.fori_loop(0, trips, lambda i, q: q + 1e-6 * grad(q)[1], q))
    jax.block_until_ready(loop(start))
    t0 = time.perf_counter()
    jax.block_until_ready(loop(start))
    return (time.perf_counter() - t0) / trips


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--datasets", default="sinusoidal,regression2d,airfoil,diabetes")
    p.add_argument("--networks", default="f1,f2")
    p.add_argument("--chains", type=int, default=1274)
    p.add_argument("--f2-chains", type=int, default=64, help="f2 costs ~100x more per chain")
    p.add_argument("--float64", action="store_true", help="default: float32, as the sampler")
    p.add_argument("-o", "--output", type=Path, help="write the rows as JSON")
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", args.float64)
    dtype = jnp.float64 if args.float64 else jnp.float32

    import symbnn
    from symbnn.model._chains_last import is_narrow

    rows = []
    print(f"{'network':28s} {'n':>5s} {'chains':>6s}  vmap µs  symbnn µs  speed-up  max rel err")
    for name in args.datasets.split(","):
        data = symbnn.datasets.load(name, data_dir=args.data_dir)
        x = jnp.asarray(data.x_train, dtype)
        y = jnp.asarray(data.y_train, dtype)
        for net in args.networks.split(","):
            spec = symbnn.MLP(data.in_features, NETWORKS[net], data.y_train.shape[1])
            chains = args.chains if net == "f1" else args.f2_chains
            start = jnp.asarray(
                np.random.default_rng(0).normal(0, 0.5, (chains, spec.position_size)), dtype
            )
            plain = jax.vmap(jax.value_and_grad(partial(spec.log_density, x=x, y=y)))
            fast = jax.vmap(jax.value_and_grad(spec.logdensity_fn(x, y)))
            g0, g1 = jax.jit(plain)(start)[1], jax.jit(fast)(start)[1]
            err = float(jnp.max(jnp.abs(g1 - g0)) / jnp.max(jnp.abs(g0)))
            trips = max(5, int(3e8 / (chains * x.shape[0] * spec.num_params)))
            t_plain, t_fast = timed(plain, start, trips), timed(fast, start, trips)
            row = {
                "chains_last": is_narrow(spec.sizes),
                "data": name,
                "network": net,
                "sizes": list(spec.sizes),
                "n": int(x.shape[0]),
                "chains": chains,
                "vmap_us": t_plain / chains * 1e6,
                "symbnn_us": t_fast / chains * 1e6,
                "max_rel_err": err,
            }
            row["speedup"] = row["vmap_us"] / row["symbnn_us"]
            rows.append(row)
            label = f"{net} {name} {'-'.join(map(str, spec.sizes))}"
            print(
                f"{label:28s} {row['n']:5d} {chains:6d}  {row['vmap_us']:7.2f}  "
                f"{row['symbnn_us']:9.2f}  {row['speedup']:7.2f}x  {err:.1e}",
                flush=True,
            )
    if args.output:
        args.output.write_text(json.dumps({"dtype": str(np.dtype(dtype)), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
