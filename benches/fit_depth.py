"""How deep the chains fit: per-chain noise σ, train and test RMSE, and the ensemble's test
LPPD as chains are added, for several `sample` configurations on one data set and network.

It separates two causes of a low many-chain LPPD: chains that sit in a shallow fit (σ well
above the posterior's) and chains that fit deeply but generalise worse. Run a NUTS reference
next to the default to see where the posterior's typical set lies, e.g.

    python benches/fit_depth.py airfoil --data-dir ../shared/datasets --chains 32 \
        --config '{}' --config '{"init_options": {"holdout": 0, "num_steps": 12000}}'
    python benches/fit_depth.py airfoil --data-dir ../shared/datasets --chains 2 \
        --config '{"kernel": "nuts", "init": "prior"}'
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

import symbnn
from symbnn.datasets import load
from symbnn.model import MLP


def fit_depth(post, data) -> dict:
    spec = post.spec
    theta = jnp.asarray(post.samples[:, -1, :])
    sigma = post.noise_std[:, -1]
    f_test = np.asarray(jax.vmap(lambda t: spec.apply(t, jnp.asarray(data.x_test)))(theta))[..., 0]
    f_train = np.asarray(jax.vmap(lambda t: spec.apply(t, jnp.asarray(data.x_train)))(theta))[
        ..., 0
    ]
    y, y_train = data.y_test[:, 0], data.y_train[:, 0]
    ll = (
        -0.5 * np.log(2 * np.pi)
        - np.log(sigma)[:, None]
        - 0.5 * ((y - f_test) / sigma[:, None]) ** 2
    )
    chains = len(sigma)
    counts = [k for k in (8, 32, 128, 512, 1274, 4096) if k < chains] + [chains]
    return {
        "sigma": float(np.median(sigma)),
        "rmse_train": float(np.median(np.sqrt(np.mean((f_train - y_train) ** 2, 1)))),
        "rmse_test": float(np.median(np.sqrt(np.mean((f_test - y) ** 2, 1)))),
        "lppd_per_chain": float(np.median(ll.mean(1))),
        "lppd": {k: float(np.mean(logsumexp(ll[:k], axis=0) - np.log(k))) for k in counts},
        "grads_per_chain": float(np.median(post.diagnostics["num_grad_evals"])),
        "seconds": post.timings.get("total_s"),
        "converged": bool(post.convergence.converged),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="data set name or path")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--hidden", default="16,16,16", help="hidden widths (default: f2)")
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--config", action="append", default=[], help="sample keywords as JSON")
    args = ap.parse_args()
    data = load(args.data, data_dir=args.data_dir)
    spec = MLP(data.in_features, tuple(int(w) for w in args.hidden.split(",")))
    for config in args.config or ["{}"]:
        kwargs = json.loads(config)
        post = symbnn.sample(
            spec, data.x_train, data.y_train[:, 0], num_chains=args.chains, progress=False, **kwargs
        )
        print(
            json.dumps({"data": args.data, "config": kwargs, **fit_depth(post, data)}), flush=True
        )


if __name__ == "__main__":
    main()
