"""The many-chain default against its candidates, side by side in one run: test LPPD ± SE,
gradients per chain, wall time and the convergence verdict, per network and data set.

    python benches/bench_default.py --data-dir ../shared/datasets \\
        --datasets sinusoidal,regression2d,airfoil --networks f1,f2 --chains 128 \\
        --out benches/default_candidates.json

Candidates (`--candidates`, names below), all from the same optimised starts unless named
`prior_*`:
- `default`: `sample`'s defaults (optimised starts, then Metropolis-adjusted MCLMC);
- `mclmc`: the same starts, then unadjusted MCLMC (the earlier default), and `mclmc_2048`
  with twice the warm-up;
- `no_holdout`: MCLMC from starts trained on all rows to the end;
- `holdout_always`, `full_fit`: the default kernel from starts with the held-out stop on
  every network (the earlier default), or trained on all rows to the end (what the default
  does where the network has fewer weights than rows); `full_fit_lr05`, `lr05`: the same
  with a learning rate of 5e-2;
- `prior_1024`, `prior_4096`: MCLMC from prior draws with BlackJAX's first step (√d/4) and
  1024 (the first default) or 4096 warm-up steps;
- `mclmc_x4`: MCLMC with four draws per chain at the same chain count;
- `adjusted_mclmc`: the default kernel named explicitly;
- `chees_256`: ChEES-HMC, whose step size, trajectory length and diagonal mass matrix are
  tuned once across each ensemble of 64 chains (256 warm-up steps of at most 32 leapfrog
  steps, a budget near the default's; uncapped, its trajectories grow to ~250 steps and f2
  costs ~64k gradients per chain);
- `nuts`: NUTS from prior draws, the study's kernel (costly: f1 only unless asked).
Each row runs in the same process, one after the other; run it on an otherwise idle machine
and report the load (`uptime`) with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

NETWORKS = {"f1": (3,), "f2": (16, 16, 16)}
CANDIDATES = {
    "default": {},
    "mclmc": {"kernel": "mclmc"},
    "mclmc_2048": {"kernel": "mclmc", "num_warmup": 2048},
    "no_holdout": {"kernel": "mclmc", "init_options": {"holdout": 0}},
    "holdout_always": {"init_options": {"holdout": 0.1}},
    "full_fit": {"init_options": {"holdout": 0}},
    "full_fit_lr05": {"init_options": {"holdout": 0, "learning_rate": 0.05}},
    "lr05": {"init_options": {"learning_rate": 0.05}},
    "lbfgs": {"init_options": {"optimizer": "lbfgs"}},
    "adam": {"init_options": {"optimizer": "adam"}},
    "adam_lbfgs": {"init_options": {"optimizer": "adam_lbfgs"}},
    "prior_1024": {"kernel": "mclmc", "init": "prior", "initial_step_size": None},
    "prior_4096": {
        "kernel": "mclmc",
        "init": "prior",
        "num_warmup": 4096,
        "initial_step_size": None,
    },
    "mclmc_x4": {"kernel": "mclmc", "num_samples": 4, "thinning": 25},
    "adjusted_mclmc": {"kernel": "adjusted_mclmc"},
    "chees_256": {"kernel": "chees", "num_warmup": 256, "max_leapfrog_steps": 32},
    "nuts": {"kernel": "nuts", "init": "prior"},
}


def run(spec, data, chains: int, options: dict, seed: int) -> dict:
    import numpy as np

    import symbnn

    opts = dict(options)
    if opts.get("initial_step_size", 0) is None:  # BlackJAX's own start: √d / 4
        opts["initial_step_size"] = 0.25 * spec.position_size**0.5
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = symbnn.sample(
            spec, data.x_train, data.y_train, num_chains=chains, seed=seed, progress=False, **opts
        )
    wall = time.perf_counter() - t0
    ok = post.diagnostics["finite"]
    scored = post if ok.all() else post.select(ok) if hasattr(post, "select") else post
    m = symbnn.lppd(scored, data.x_test, data.y_test)
    verdict = post.convergence
    return {
        "lppd": m.mean,
        "lppd_se": m.se,
        "grads_per_chain": float(np.mean(post.diagnostics["num_grad_evals"])),
        "wall_s": wall,
        "compile_s": post.timings.get("compile_s"),
        "noise_std_median": float(np.median(post.noise_std)),
        "converged": verdict.converged,
        "drift_z": (verdict.checks.get("drift") or {}).get("z"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=os.environ.get("SYMBNN_DATA_DIR"))
    p.add_argument("--datasets", default="sinusoidal,regression2d,airfoil")
    p.add_argument("--networks", default="f1,f2")
    p.add_argument("--candidates", default="default,mclmc,chees_256,prior_1024")
    p.add_argument("--chains", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.data_dir is None or not Path(args.data_dir).exists():
        print("no data folder (--data-dir or SYMBNN_DATA_DIR): skipped")
        return
    import symbnn

    rows = []
    print("| net | data | candidate | test LPPD | grads/chain | wall s | σ | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for net in args.networks.split(","):
        for name in args.datasets.split(","):
            data = symbnn.datasets.load(name, data_dir=args.data_dir)
            spec = symbnn.MLP(data.in_features, NETWORKS[net], activation="tanh")
            for cand in args.candidates.split(","):
                r = run(spec, data, args.chains, CANDIDATES[cand], args.seed)
                r.update(network=net, dataset=name, candidate=cand, chains=args.chains)
                rows.append(r)
                print(
                    f"| {net} | {name} | {cand} | {r['lppd']:.3f} ± {r['lppd_se']:.3f} | "
                    f"{r['grads_per_chain']:.0f} | {r['wall_s']:.1f} | "
                    f"{r['noise_std_median']:.3f} | "
                    f"{'converged' if r['converged'] else 'not converged'} |",
                    flush=True,
                )
                if args.out:
                    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
