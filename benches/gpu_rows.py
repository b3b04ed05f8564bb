"""The accelerator rows of the study's table and of the speed targets, one after the other in
one process: test LPPD ± SE, wall and compile time, gradients per chain, the speed-up over the
study's 3.9 s per chain (its NumPyro code, one chain at a time, on a CPU), and the verdict.

    python benches/gpu_rows.py --data-dir ../shared/datasets --out rows.jsonl [--rows a,b]

Rows (`--rows`, in this order by default; each is written to `--out` as soon as it ends, so
that a run stopped by a time limit keeps what it finished):
- `f1_default`, `f1_mclmc`, `f1_nuts`: f1 on the sinusoid, 1274 chains: the default, `mclmc`
  from prior draws, `nuts` from prior draws (the study's protocol);
- `f2_default`: f2 on airfoil, 1274 chains, the default;
- `f2_default_10k`: the same with 10,000 chains;
- `f2_deep_starts`: f2 on airfoil, 1274 chains, starts trained 12,000 steps on all rows (no
  held-out stop), to see what deeper starts buy where gradients are cheap;
  `f2_deep_starts_30k` with 30,000 steps, `f2_deep_starts_10k` with 10,000 chains (not run
  by default). The default trains these starts on all rows too (fewer weights than rows,
  `starts.holdout_fraction`), but for 3,000 steps.
- `f2_table_<name>` (sinusoidal, izmailov, regression2d, diabetes): the rest of the f2 table
  with the default, 1274 chains; `f2_default_10k_steps`: f2 on airfoil with the default's
  starts run for 10,000 steps (not run by default).
Every row compiles from cold (no persistent cache), as a first run would.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

STUDY_S_PER_CHAIN = 3.9
ROWS = {
    "f1_default": ("sinusoidal", "f1", 1274, {}),
    "f1_mclmc": ("sinusoidal", "f1", 1274, {"kernel": "mclmc", "init": "prior"}),
    "f2_default": ("airfoil", "f2", 1274, {}),
    "f1_nuts": ("sinusoidal", "f1", 1274, {"kernel": "nuts", "init": "prior"}),
    "f2_default_10k": ("airfoil", "f2", 10_000, {}),
    "f2_deep_starts": (
        "airfoil",
        "f2",
        1274,
        {"init_options": {"holdout": 0, "num_steps": 12_000}},
    ),
    "f2_deep_starts_30k": (
        "airfoil",
        "f2",
        1274,
        {"init_options": {"holdout": 0, "num_steps": 30_000}},
    ),
    "f2_deep_starts_10k": (
        "airfoil",
        "f2",
        10_000,
        {"init_options": {"holdout": 0, "num_steps": 12_000}},
    ),
}
for _name in ("sinusoidal", "izmailov", "regression2d", "diabetes"):
    ROWS[f"f2_table_{_name}"] = (_name, "f2", 1274, {})
ROWS["f2_default_10k_steps"] = ("airfoil", "f2", 1274, {"init_options": {"num_steps": 10_000}})
DEFAULT_ROWS = "f1_default,f1_mclmc,f2_default,f2_default_10k,f1_nuts,f2_deep_starts"


def run_row(name: str, data_dir: Path, scale: float) -> dict:
    import jax
    from bench_default import run  # the same measurement as the CPU candidates' table

    import symbnn
    from symbnn.study.reproduce import NETWORKS

    dataset, net, chains, options = ROWS[name]
    chains = max(2, int(chains * scale))
    data = symbnn.datasets.load(dataset, data_dir=data_dir)
    spec = symbnn.MLP(data.in_features, NETWORKS[net], data.y_train.shape[1])
    row = {"row": name, "data": dataset, "network": net, "chains": chains, "options": options}
    row.update(run(spec, data, chains, options, seed=0))
    row.update(
        speedup_vs_study=STUDY_S_PER_CHAIN * chains / row["wall_s"],
        device=f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        jax=jax.__version__,
    )
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--rows", default=DEFAULT_ROWS)
    p.add_argument("--out", type=Path, help="append one JSON line per row")
    p.add_argument("--scale", type=float, default=1.0, help="chains × this (a quick check)")
    args = p.parse_args(argv)
    for name in args.rows.split(","):
        row = run_row(name, args.data_dir, args.scale)
        line = json.dumps(row)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
