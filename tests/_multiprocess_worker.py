"""One process of `test_multiprocess.py`: join the group (unless `--processes 0`), sample the
shared tiny problem, and save what this process got back.

    python tests/_multiprocess_worker.py --processes 2 --rank 0 --port 43117 --out r0.npz
"""

import argparse
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--processes", type=int, required=True, help="0: no distributed group")
    p.add_argument("--rank", type=int, default=0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.processes:
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}",
            num_processes=args.processes,
            process_id=args.rank,
            initialization_timeout=60,
        )
    import symbnn

    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (24, 1))
    y = np.sin(2 * x) + 0.1 * rng.normal(size=x.shape)
    post = symbnn.sample(
        symbnn.MLP(1, (3,), 1), x, y, num_chains=4, num_warmup=20, num_samples=3,
        kernel="hmc", num_integration_steps=3, seed=7, progress=False,
    )  # fmt: skip
    np.savez(
        args.out,
        samples=post.samples,
        noise_std=post.noise_std,
        log_density=post.diagnostics["log_density"],
        processes=jax.process_count(),
        devices=post.settings["num_devices"],
        device=post.settings["device"],
    )
    if args.processes:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main()
