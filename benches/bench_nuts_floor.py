"""The autobatched NUTS engine against its gradient floor, per loop trip, as chains grow.

    python benches/bench_nuts_floor.py --data-dir ../shared/datasets [--chains 64,256,1274,4096]

`f1` (1-3-1 tanh) on the study's sinusoidal split. For each chain count C, one jitted
`fori_loop` of `--trips` iterations of
- the floor: a vmapped `value_and_grad` of the log density over C chains (what any
  gradient-based sampler must pay per step, here in XLA on this machine), and
- a trip of the engine: the same gradient plus all of NUTS's bookkeeping for C chains (one
  leapfrog, progressive sampling, U-turn checks, adaptation, keys), as the engine runs it
  (`nuts_engine.step_chains`: the end-of-tree work for the chains there alone) and in its
  reference form (`vmap(nuts_engine.trip)`: that work for every chain, masked),
timed after `--burn-in` trips from the starts, so that the trees have grown as in a run.
Reported: µs per chain per gradient or trip, and the engine's ratio to the floor. A full run
costs about `loop_trips` trips; `loop_trips / mean gradients` (the lockstep waste, 1.3 to 1.5
here, see bench_nuts_autobatch.py) multiplies the ratio.
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


def timed_loop(body, init, trips: int, repeats: int = 5) -> float:
    """Seconds of `trips` iterations of `body`, the best of `repeats` runs (the machine's
    noise only ever adds time)."""
    loop = jax.jit(lambda c: jax.lax.fori_loop(0, trips, lambda i, c: body(c), c))
    jax.block_until_ready(loop(init))  # compile and warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(loop(init))
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--chains", default="64,256,1274,4096")
    p.add_argument("--trips", type=int, default=200)
    p.add_argument("--burn-in", type=int, default=2000, help="trips before timing")
    p.add_argument("--float32", action="store_true", help="default: float64")
    p.add_argument("-o", "--output", type=Path, help="write the rows as JSON")
    args = p.parse_args(argv)
    if not args.float32:
        jax.config.update("jax_enable_x64", True)

    import symbnn
    from symbnn.sampling.nuts_engine import init_chain, nuts_config, step_chains, trip

    dtype = jnp.float32 if args.float32 else jnp.float64
    data = symbnn.datasets.load("sinusoidal", data_dir=args.data_dir)
    spec = symbnn.MLP(1, (3,), 1)
    ld = spec.logdensity_fn(jnp.asarray(data.x_train, dtype), jnp.asarray(data.y_train, dtype))
    cfg = nuts_config(ld, num_warmup=1024, num_samples=1)
    grad = jax.vmap(jax.value_and_grad(ld))
    rows = []
    print("chains  floor µs/chain-grad  engine µs/chain-trip  reference (masked)  engine/floor")
    for c in (int(s) for s in args.chains.split(",")):
        rng = np.random.default_rng(0)
        start = jnp.asarray(rng.normal(0, 0.5, (c, spec.position_size)), dtype)
        keys = jax.random.split(jax.random.key(0), c)
        # The floor: each step moves the positions a little so nothing is loop-invariant.
        floor = timed_loop(lambda q: q + 1e-6 * grad(q)[1], start, args.trips)
        chains = jax.jit(jax.vmap(partial(init_chain, cfg)))(start, keys)
        step = partial(step_chains, cfg)
        chains = jax.block_until_ready(
            jax.jit(
                lambda ch, step=step: jax.lax.fori_loop(0, args.burn_in, lambda i, h: step(h), ch)
            )(chains)
        )
        engine = timed_loop(step, chains, args.trips)
        reference = timed_loop(jax.vmap(partial(trip, cfg)), chains, args.trips)
        row = {
            "chains": c,
            "floor_us_per_chain_grad": floor / args.trips / c * 1e6,
            "engine_us_per_chain_trip": engine / args.trips / c * 1e6,
            "reference_us_per_chain_trip": reference / args.trips / c * 1e6,
        }
        row["ratio"] = row["engine_us_per_chain_trip"] / row["floor_us_per_chain_grad"]
        rows.append(row)
        print(
            f"{c:6d}  {row['floor_us_per_chain_grad']:19.2f}  "
            f"{row['engine_us_per_chain_trip']:20.2f}  "
            f"{row['reference_us_per_chain_trip']:18.2f}  {row['ratio']:12.2f}"
        )
    if args.output:
        args.output.write_text(json.dumps({"dtype": str(np.dtype(dtype)), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
