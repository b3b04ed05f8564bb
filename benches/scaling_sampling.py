"""Scaling table: seconds per chain as the number of chains grows, f1 on sinusoidal and f2 on
airfoil (the study's splits), 1024 warm-up steps and one draw.

    python benches/scaling_sampling.py --data-dir ../shared/datasets --kernel mclmc \\
        --max-chains 16384

Chains run 64, 256, 1024, 4096, 16384 (up to `--max-chains`); each count is one `sample` call
(chunks of `--chunk-size` chains, default `sample`'s; compilation is reported apart). Seconds
per chain should fall as chains grow until the machine is full, then stay flat. On a small CPU keep
`--max-chains` low: f2 on airfoil costs about 40× f1's arithmetic per gradient.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SETUPS = {"f1": ("sinusoidal", (3,)), "f2": ("airfoil", (16, 16, 16))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("SYMBNN_DATA_DIR"))
    p.add_argument("--kernel", default="mclmc")
    p.add_argument("--networks", default="f1,f2", help="f1 (sinusoidal) and/or f2 (airfoil)")
    p.add_argument("--min-chains", type=int, default=64)
    p.add_argument("--max-chains", type=int, default=1024)
    p.add_argument("--warmup", type=int, default=1024)
    p.add_argument("--chunk-size", type=int, help="default: sample's (cache-sized on a CPU)")
    p.add_argument("--out", type=Path, help="append JSON lines here")
    args = p.parse_args(argv)
    if args.data_dir is None or not Path(args.data_dir).is_dir():
        print("skipped: no data (give --data-dir or set SYMBNN_DATA_DIR)")
        return 0

    import jax
    import numpy as np

    import symbnn

    print(
        f"| net | data | chains | compile s | run s | run s / chain | grads / chain |"
        f" non-finite |  ({args.kernel}, {jax.devices()[0].device_kind})"
    )
    print("|---|---|---|---|---|---|---|---|")
    for net in args.networks.split(","):
        name, hidden = SETUPS[net]
        data = symbnn.datasets.load(name, data_dir=args.data_dir)
        spec = symbnn.MLP(data.in_features, hidden, activation="tanh")
        chains = args.min_chains
        while chains <= args.max_chains:
            post = symbnn.sample(
                spec, data.x_train, data.y_train, num_chains=chains, num_warmup=args.warmup,
                kernel=args.kernel, chunk_size=args.chunk_size, progress=False,
            )  # fmt: skip
            t = post.timings
            row = {
                "net": net, "data": name, "chains": chains, "kernel": args.kernel,
                "compile_s": t["compile_s"], "run_s": t["run_s"],
                "run_s_per_chain": t["run_s"] / chains,
                "grads_per_chain": float(np.mean(post.diagnostics["num_grad_evals"])),
                "non_finite": int(np.sum(~post.diagnostics["finite"])),
            }  # fmt: skip
            print(
                f"| {net} | {name} | {chains} | {t['compile_s']:.1f} | {t['run_s']:.1f} "
                f"| {row['run_s_per_chain']:.4f} | {row['grads_per_chain']:.0f} "
                f"| {row['non_finite']} |",
                flush=True,
            )
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            chains *= 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
