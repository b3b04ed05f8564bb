"""Sample the posterior of a Bayesian MLP with many chains and save it (`.npz`).

Data: a built-in generator (`--dataset sinusoidal`), a data set file of the study
(`--dataset airfoil --data-dir DIR`, using DIR/splits.json), or any numeric table
(`--data FILE [--splits JSON]`, target in the last column). Features and target are
standardized as in the study. Prints the run's timings, diagnostics and test LPPD."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..sampling.driver import DEFAULT_KERNEL
from ._common import add_data_arguments, load_data, parse_hidden, parse_options

USES_JAX = True  # compiles programs: the command enables the compilation cache
HELP = "run many MCMC chains on a Bayesian MLP and save the posterior"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    p.add_argument("--hidden", default="3", help="hidden widths, e.g. 3 or 16x16x16 (default 3)")
    p.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--prior-scale", type=float, default=1.0, help="prior sd (default 1)")
    p.add_argument("--noise-std", type=float, help="fix the noise sd instead of sampling it")
    p.add_argument("--chains", type=int, default=54, help="number of chains (default 54)")
    p.add_argument(
        "--kernel",
        default=DEFAULT_KERNEL,
        help="adjusted_mclmc (default), mclmc, nuts, nuts_vmap, hmc or chees",
    )
    p.add_argument("--warmup", type=int, default=1024, help="warm-up steps (default 1024)")
    p.add_argument("--samples", type=int, default=1, help="draws per chain (default 1)")
    p.add_argument("--thinning", type=int, default=1, help="keep every k-th step (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chains (default 0)")
    p.add_argument(
        "--init",
        default="ensemble",
        choices=["prior", "ensemble"],
        help="chain starts: optimised (ensemble, default) or prior draws (the study's)",
    )
    p.add_argument(
        "--chunk-size", type=int,
        help="chains per compiled program (default: all; on a CPU, as many as keep a layer's "
        "activations in cache)",
    )  # fmt: skip
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a kernel option, e.g. ensemble_size=64 (repeatable; VALUE is read as JSON)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("posterior.npz"),
        help="the posterior .npz to write (default posterior.npz)",
    )


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from .._atomic import check_writable
    from ..errors import SymbnnError
    from ..model.mlp import MLP
    from ..predictive.metrics import lppd
    from ..sampling.driver import sample

    options = parse_options(args.option)
    data, source = load_data(args)
    if args.output.is_dir():
        raise SymbnnError(f"-o {args.output} is a folder; name the file, e.g. {args.output}/p.npz")
    check_writable(args.output)  # before the sampling, not after it
    spec = MLP(
        data.in_features, parse_hidden(args.hidden), activation=args.activation,
        prior_scale=args.prior_scale,
    )  # fmt: skip
    post = sample(
        spec, data.x_train, data.y_train, num_chains=args.chains, num_warmup=args.warmup,
        num_samples=args.samples, thinning=args.thinning, kernel=args.kernel, init=args.init,
        seed=args.seed, chunk_size=args.chunk_size, progress=not args.no_progress,
        noise_std=args.noise_std, **options,
    )  # fmt: skip
    post.settings["data"] = {
        "name": data.name,
        "source": source,
        "n_train": int(len(data.x_train)),
        "n_test": int(len(data.x_test)),
    }
    path = post.save(args.output)

    d, t = post.diagnostics, post.timings
    print(
        f"{post.num_chains} chains x {post.num_draws} draws of {args.kernel} on {data.name}: "
        f"compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s, total {t['total_s']:.1f} s"
    )
    print(
        f"gradient evaluations per chain: {np.mean(d['num_grad_evals']):.0f} (mean); "
        f"chains with divergences: {int(np.sum(d['divergences'] > 0))}; "
        f"non-finite chains: {int(np.sum(~d['finite']))}"
    )
    if len(data.x_test):
        lp = lppd(post.select(d["finite"]), data.x_test, data.y_test)
        print(f"test LPPD (standardized units, finite chains): {lp.mean:.3f} ± {lp.se:.3f}")
    print(f"convergence: {post.convergence}")
    print(f"saved {path}")
    return 0
