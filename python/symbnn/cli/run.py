"""The main job, end to end: how many chains the bound asks for, sampling, the posterior
predictive on the test split, canonicalization and modes, then `report.json`, the plots and the
posterior in OUTDIR, with a short summary on the terminal."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..errors import SymbnnError
from ..sampling.driver import DEFAULT_KERNEL
from ._common import add_data_arguments, load_data, parse_hidden

USES_JAX = True  # compiles programs: the command enables the compilation cache
HELP = "run the whole pipeline on a data set: bound, sampling, predictive, symmetries, report"
_OUTPUTS = ("report.json", "posterior.npz")  # and the .png plots


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p, required=False)
    p.add_argument("--hidden", default="3", help="hidden widths, e.g. 3 or 16x16x16 (default 3)")
    p.add_argument("--activation", default="tanh", help="hidden activation (default: tanh)")
    p.add_argument(
        "--modes", type=int, default=3, help="assumed functionally distinct modes ν (default: 3)"
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.99,
        help="probability to see every mode (default: 0.99)",
    )
    p.add_argument(
        "--method",
        default="exact",
        choices=["exact", "union", "markov"],
        help="chain count: exact quantile (default), union bound, or the study's Markov bound",
    )
    p.add_argument("--chains", type=int, help="override the bound's chain count")
    p.add_argument(
        "--kernel", default=DEFAULT_KERNEL, help=f"MCMC kernel (default: {DEFAULT_KERNEL})"
    )
    p.add_argument(
        "--init",
        default="ensemble",
        choices=["prior", "ensemble"],
        help="chain starts: optimised (ensemble, default) or prior draws (the study's)",
    )
    p.add_argument("--warmup", type=int, default=1024, help="warm-up steps (default: 1024)")
    p.add_argument("--samples", type=int, default=1, help="draws per chain (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chains (default: 0)")
    p.add_argument(
        "-o",
        "--outdir",
        type=Path,
        default=Path("symbnn-run"),
        help="output folder, replaced as a whole by the new run (default: symbnn-run)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _check_outdir(outdir: Path) -> None:
    """Refuse, before any sampling, an output the run could not write or should not replace:
    the run's files appear together by replacing the whole folder, so an existing folder may
    hold only the files of an earlier run."""
    from .._atomic import check_writable

    if not Path(os.path.abspath(outdir)).name:
        raise SymbnnError(f"-o {outdir}: name a folder of its own for the run's files")
    if outdir.exists() and not outdir.is_dir():
        raise SymbnnError(f"-o {outdir} is a file; name a folder for the run's files")
    if outdir.is_dir():
        other = sorted(
            p.name
            for p in outdir.iterdir()
            if not (p.is_file() and (p.name in _OUTPUTS or p.suffix == ".png"))
        )
        if other:
            raise SymbnnError(
                f"-o {outdir} holds files that are not a symbnn run's output "
                f"({', '.join(other[:5])}); a run replaces the whole folder, so name a new one"
            )
    check_writable(outdir)


def _plots(args, outdir, posterior, data, convergence, canonical, num_chains, modes) -> list:
    import numpy as np

    if args.no_plots:
        return []
    from ..study.plot import write_run_plots

    return write_run_plots(
        posterior,
        data,
        outdir,
        convergence=convergence,
        canonical=canonical,
        bound=num_chains,
        labels=np.asarray(modes.labels).reshape(-1),
    )


def main(args) -> int:
    from .. import (
        MLP,
        canonicalize,
        chains_needed,
        evaluate,
        find_modes,
        functional_convergence,
        halfnormal_weights,
        sample,
    )
    from .._atomic import atomic_folder
    from ..study.report import summary_table, write_report

    t0 = time.perf_counter()
    if args.chains is not None and args.chains < 1:
        raise SymbnnError(f"--chains must be at least 1, got {args.chains}")
    data, _ = load_data(args)
    _check_outdir(args.outdir)
    spec = MLP(
        data.in_features,
        parse_hidden(args.hidden),
        data.y_train.shape[1],
        activation=args.activation,
    )
    weights = halfnormal_weights(args.modes)
    bound = {m: chains_needed(weights, args.confidence, method=m) for m in ("markov", "union")}
    bound["exact"] = chains_needed(weights, args.confidence, method="exact")
    num_chains = bound[args.method] if args.chains is None else args.chains

    posterior = sample(
        spec,
        data.x_train,
        data.y_train,
        num_chains=num_chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        kernel=args.kernel,
        init=args.init,
        seed=args.seed,
        progress=not args.quiet,
    )
    metrics = evaluate(posterior, data.x_test, data.y_test)
    canonical = canonicalize(posterior.samples, spec)
    modes = find_modes(posterior.samples, spec, space="function", x_probe=data.x_test)
    convergence = None
    if spec.in_features == 1 and posterior.num_chains > 1:
        convergence = functional_convergence(posterior)

    diag = posterior.diagnostics
    report = {
        "data": {"name": data.name, "train": len(data.x_train), "test": len(data.x_test)},
        "spec": spec.to_dict(),
        "bound": {
            "modes": args.modes,
            "confidence": args.confidence,
            "weights": list(map(float, weights)),
            **bound,
            "method": args.method,
            "chains_used": num_chains,
        },
        "sampling": {
            "settings": posterior.settings,
            "timings": posterior.timings,
            "finite_chains": int(diag["finite"].sum()),
            "divergences": int(diag["divergences"].sum()) if "divergences" in diag else None,
        },
        "test_metrics": metrics,
        "modes": {"count": int(len(modes.counts)), "weights": list(map(float, modes.weights))},
        "functional_convergence": None if convergence is None else convergence.to_dict(),
    }
    if convergence is not None:
        report["settled_at_chains"] = convergence.settled_at()
    # Every file goes into a temporary folder that replaces OUTDIR at the end: a failure leaves
    # no half-written run, and never new files beside an earlier run's.
    try:
        # The folder a link points to, not the link, is what the user means to replace.
        with atomic_folder(os.path.realpath(args.outdir)) as tmp:
            posterior.save(tmp / "posterior.npz")
            plots = _plots(args, tmp, posterior, data, convergence, canonical, num_chains, modes)
            report["files"] = ["posterior.npz", *[p.name for p in plots]]
            report["total_s"] = time.perf_counter() - t0
            write_report(tmp / "report.json", report)
    except OSError as e:
        raise SymbnnError(f"cannot write {args.outdir}: {e.strerror or e}") from None
    summary = {
        f"chains (bound, {args.method})": bound[args.method],
        "chains sampled": num_chains,
        "chains (study's Markov bound)": bound["markov"],
        **metrics,
        "functionally distinct modes": len(modes.counts),
        "sampling seconds": posterior.timings.get("total_s"),
        "convergence": "yes" if posterior.convergence.converged else "no (see the warning)",
        "device": posterior.settings.get("device"),
    }
    print(summary_table(summary, title=f"symbnn run: {spec!r} on {data.name}"))
    print(f"wrote {args.outdir}/report.json, posterior.npz and {len(plots)} plot(s)")
    return 0
