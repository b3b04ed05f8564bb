"""The cost of live progress: `sample(progress=True)` (the log density ticks a counter, and the
default kernel reports its steps, through XLA FFI custom calls) against `progress=False`, side
by side in one run.

    python benches/bench_progress.py --data-dir ../shared/datasets [--chains 16,1274]

f1 (1-3-1 tanh) on the study's sinusoidal split, the default kernel; each setting runs twice
(compiled once first) and the run phase (`timings["run_s"]`) is reported. Run it on an
otherwise idle machine and report the load (`uptime`) with the numbers.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--chains", default="16,1274")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)

    import symbnn

    warnings.simplefilter("ignore", symbnn.ConvergenceWarning)
    data = symbnn.datasets.load("sinusoidal", data_dir=args.data_dir)
    spec = symbnn.MLP(1, (3,), 1)
    print("chains  progress  run s (each repeat)")
    for chains in (int(c) for c in args.chains.split(",")):
        for live in (False, True):
            runs = []
            for seed in range(args.repeats + 1):  # the first run compiles
                post = symbnn.sample(
                    spec, data.x_train, data.y_train, num_chains=chains, progress=live, seed=seed
                )
                runs.append(post.timings["run_s"])
            print(f"{chains:6d}  {str(live):8s}  " + "  ".join(f"{t:.2f}" for t in runs[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
