"""The default sampler with every chain in one chunk against the default chunk (on a CPU, as
many chains as keep a layer's activations in cache), side by side in one run: run time, the
same draws.

    python benches/bench_chunks.py --data-dir ../shared/datasets [--dataset airfoil]
        [--network f2] [--chains 512] [--warmup 256] [--start-steps 1000]

Fewer warm-up and start steps than the default keep the run short; the ratio is per gradient,
so it carries over. Compilation is timed apart (each chunk size is its own program, and a
library call does not use the persistent cache). Run it on an otherwise idle machine and
report the load (`uptime`) with the numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from symbnn.study.reproduce import NETWORKS


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--dataset", default="airfoil")
    p.add_argument("--network", default="f2", choices=sorted(NETWORKS))
    p.add_argument("--chains", type=int, default=512)
    p.add_argument("--warmup", type=int, default=256)
    p.add_argument("--start-steps", type=int, default=1000)
    args = p.parse_args(argv)

    import symbnn

    data = symbnn.datasets.load(args.dataset, data_dir=args.data_dir)
    spec = symbnn.MLP(data.in_features, NETWORKS[args.network])
    opts = dict(
        num_chains=args.chains, num_warmup=args.warmup, seed=0, progress=False,
        init_options={"num_steps": args.start_steps},
    )  # fmt: skip
    runs = {}
    for label, chunk in (("one chunk", args.chains), ("default chunk", None)):
        t0 = time.perf_counter()
        post = symbnn.sample(spec, data.x_train, data.y_train, chunk_size=chunk, **opts)
        wall = time.perf_counter() - t0
        runs[label] = post
        grads = float(np.mean(post.diagnostics["num_grad_evals"]))
        per_grad = 1e6 * post.timings["run_s"] / (grads * args.chains)
        print(
            f"{args.network} {args.dataset} {args.chains} chains, {label}: "
            f"{post.settings['num_chunks']} x {post.settings['chunk_size']} chains, "
            f"compile {post.timings['compile_s']:.1f} s, run {post.timings['run_s']:.1f} s "
            f"({per_grad:.0f} µs per chain and gradient), wall {wall:.1f} s",
            flush=True,
        )
    one, default = runs["one chunk"], runs["default chunk"]
    diff = float(np.max(np.abs(one.samples - default.samples)))
    ratio = one.timings["run_s"] / default.timings["run_s"]
    print(f"run time ratio (one chunk / default): {ratio:.2f}x; max draw difference {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
