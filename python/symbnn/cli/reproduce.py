"""Reproduce the study's results table (paper.md §8) from the study's data files.

For each network (f1: 3 tanh, f2: 16-16-16 tanh) and data set: MCMC with the study's 1274
chains, MCMC with the exact bound's 54, a single chain with 1274 draws, a deep ensemble and a
Laplace approximation; test LPPD (± SE), RMSE and wall time next to the published values.
Writes OUT/results.json (after every row; --resume skips rows already there), OUT/results.md,
the posteriors, and for f1 on the sinusoid the convergence and symmetry-removal figures.

Budgets: `cpu` (default; the 1274- and 54-chain rows with the package's default sampler,
optimised starts then Metropolis-adjusted MCLMC, and the single chain with NUTS: the f1
table in minutes on two cores), `mixed` (NUTS for the 54 chains too), `study` (NUTS
everywhere, as the study: hours on a CPU, much longer for f2), `smoke` (tiny, for tests).
Every row records its own settings (kernel, chains, warm-up, budget, machine) in results.json,
so rows kept by --resume from an earlier run stay identifiable."""

from __future__ import annotations

import argparse
from pathlib import Path

USES_JAX = True  # compiles programs: the command enables the compilation cache
HELP = "reproduce the study's LPPD table (MCMC, bound, single chain, ensemble, Laplace)"


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..study.reproduce import BUDGETS, DATASETS, ROWS

    p.add_argument("--data-dir", type=Path, required=True, help="folder of NAME.data + splits.json")
    p.add_argument("--networks", type=_names, default=["f1"], help="f1, f2 or f1,f2 (default f1)")
    p.add_argument(
        "--datasets",
        type=_names,
        default=list(DATASETS),
        help=f"names of DATA_DIR/NAME.data tables, or 'all' (default: {','.join(DATASETS)})",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        help="for tables without a split in splits.json: hold out this fraction (seeded)",
    )
    p.add_argument("--rows", type=_names, default=list(ROWS), help=f"default: {','.join(ROWS)}")
    p.add_argument("--budget", default="cpu", choices=list(BUDGETS), help="default: cpu")
    p.add_argument("--chains", type=int, help="override the many-chain row's count (1274)")
    p.add_argument("--kernel", help="override the kernel of every MCMC row")
    p.add_argument("--many-kernel", help="override the kernel of the many-chain row only")
    p.add_argument("--warmup", type=int, help="override the warm-up steps (1024)")
    p.add_argument(
        "--init", choices=["prior", "ensemble"], help="chain starts (study: prior draws)"
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KERNEL:KEY=VALUE",
        help="a kernel option for the rows using KERNEL, e.g. mclmc:desired_energy_var=1e-4",
    )
    p.add_argument("--ensemble-lr", type=float, help="RMSProp learning rate (study: 1e-4)")
    p.add_argument("--epochs", type=int, help="ensemble epochs (study: 500 for f1, 1000 for f2)")
    p.add_argument("--seed", type=int, default=0, help="seed of every row (default 0)")
    p.add_argument(
        "-o",
        "--outdir",
        type=Path,
        default=Path("symbnn-reproduce"),
        help="output folder (default symbnn-reproduce)",
    )
    p.add_argument("--resume", action="store_true", help="keep rows already in OUTDIR/results.json")
    p.add_argument("--no-plots", action="store_true", help="skip the f1 sinusoid figures")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _kernel_options(pairs: list[str]) -> dict | None:
    from ..errors import SymbnnError
    from ._common import parse_options

    out: dict = {}
    for pair in pairs:
        kernel, sep, rest = pair.partition(":")
        if not sep or not kernel:
            raise SymbnnError(f"--option {pair!r}: expected KERNEL:KEY=VALUE")
        out.setdefault(kernel, {}).update(parse_options([rest]))
    return out or None


def main(args: argparse.Namespace) -> int:
    from .._atomic import check_writable
    from ..errors import SymbnnError
    from ..study.reproduce import BUDGETS, reproduce, with_overrides

    if args.outdir.exists() and not args.outdir.is_dir():
        raise SymbnnError(f"-o {args.outdir} is a file; name a folder for the results")
    check_writable(args.outdir / "results.json")  # before hours of sampling, not after

    budget = with_overrides(
        BUDGETS[args.budget],
        many_chains=args.chains,
        many_kernel=args.many_kernel or args.kernel,
        bound_kernel=args.kernel,
        kernel=args.kernel,
        num_warmup=args.warmup,
        init=args.init,
        ensemble_lr=args.ensemble_lr,
        epochs=args.epochs,
        kernel_options=_kernel_options(args.option),
    )
    results = reproduce(
        args.data_dir, args.outdir, networks=args.networks, datasets=args.datasets,
        test_fraction=args.test_fraction, budget=budget, rows=args.rows, seed=args.seed,
        progress=not args.quiet, resume=args.resume, plots=not args.no_plots,
    )  # fmt: skip
    print((args.outdir / "results.md").read_text())
    print(f"wrote {args.outdir}/results.json and results.md ({len(results['cells'])} cells)")
    return 0
