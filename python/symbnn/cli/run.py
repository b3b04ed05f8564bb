"""The main job, end to end: how many chains the bound asks for, sampling, the posterior
predictive on the test split, canonicalization and modes, then `report.json`, the plots and the
posterior in OUTDIR, with a short summary on the terminal."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .sample import add_data_arguments, load_data, parse_hidden

USES_JAX = True  # compiles programs: the command enables the compilation cache
HELP = "run the whole pipeline on a data set: bound, sampling, predictive, symmetries, report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p, required=False)
    p.add_argument("--hidden", default="3", help="hidden widths, e.g. 3 or 16x16x16 (default 3)")
    p.add_argument("--activation", default="tanh", help="hidden activation (default: tanh)")
    p.add_argument("--modes", type=int, default=3, help="assumed functionally distinct modes ν")
    p.add_argument("--confidence", type=float, default=0.99, help="probability to see every mode")
    p.add_argument(
        "--method",
        default="exact",
        choices=["exact", "union", "markov"],
        help="chain count: exact quantile (default), union bound, or the study's Markov bound",
    )
    p.add_argument("--chains", type=int, help="override the bound's chain count")
    p.add_argument("--kernel", default="nuts", help="MCMC kernel (default: nuts)")
    p.add_argument("--warmup", type=int, default=1024, help="warm-up steps (default: 1024)")
    p.add_argument("--samples", type=int, default=1, help="draws per chain (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chains (default: 0)")
    p.add_argument("-o", "--outdir", type=Path, default=Path("symbnn-run"), help="output folder")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args) -> int:
    import numpy as np

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
    from ..report import summary_table, write_report

    t0 = time.perf_counter()
    data, _ = load_data(args)
    spec = MLP(
        data.in_features,
        parse_hidden(args.hidden),
        data.y_train.shape[1],
        activation=args.activation,
    )
    weights = halfnormal_weights(args.modes)
    bound = {m: chains_needed(weights, args.confidence, method=m) for m in ("markov", "union")}
    bound["exact"] = chains_needed(weights, args.confidence, method="exact")
    num_chains = args.chains or bound[args.method]

    posterior = sample(
        spec,
        data.x_train,
        data.y_train,
        num_chains=num_chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        kernel=args.kernel,
        seed=args.seed,
        progress=not args.quiet,
    )
    metrics = evaluate(posterior, data.x_test, data.y_test)
    canonical = canonicalize(posterior.samples, spec)
    modes = find_modes(posterior.samples, spec, space="function", x_probe=data.x_test)
    convergence = None
    if spec.in_features == 1 and posterior.num_chains > 1:
        convergence = functional_convergence(posterior)

    args.outdir.mkdir(parents=True, exist_ok=True)
    posterior.save(args.outdir / "posterior.npz")
    plots = []
    if not args.no_plots:
        from ..plot import write_run_plots

        plots = write_run_plots(
            posterior,
            data,
            args.outdir,
            convergence=convergence,
            canonical=canonical,
            bound=num_chains,
            labels=np.asarray(modes.labels).reshape(-1),
        )
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
        "files": ["posterior.npz", *[p.name for p in plots]],
        "total_s": time.perf_counter() - t0,
    }
    if convergence is not None:
        report["settled_at_chains"] = convergence.settled_at()
    write_report(args.outdir / "report.json", report)
    summary = {
        f"chains (bound, {args.method})": bound[args.method],
        "chains sampled": num_chains,
        "chains (study's Markov bound)": bound["markov"],
        **metrics,
        "functionally distinct modes": len(modes.counts),
        "sampling seconds": posterior.timings.get("total_s"),
        "device": posterior.settings.get("device"),
    }
    print(summary_table(summary, title=f"symbnn run: {spec!r} on {data.name}"))
    print(f"wrote {args.outdir}/report.json, posterior.npz and {len(plots)} plot(s)")
    return 0
