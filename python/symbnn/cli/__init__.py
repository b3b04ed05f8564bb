"""The `symbnn` command. Each subcommand lives in its own module of this package, which defines
`HELP` (one line), `add_arguments(parser)` and `main(args) -> int`; heavy imports (JAX) happen
inside `main` so that `symbnn --help` stays instant.

One rule for every command: a user error (`SymbnnError`) or an I/O failure (`OSError`: missing,
unreadable or read-only files, a full disk) prints `symbnn CMD: error: ...` and exits 2; a
traceback is only ever a bug. Ctrl-C prints `symbnn CMD: interrupted` and exits 130."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from functools import partial

from ..errors import SymbnnError

# Subcommand name -> module in this package.
_COMMANDS = {
    "run": "run",
    "chains": "chains",
    "sample": "sample",
    "canonicalize": "canonicalize",
    "modes": "modes",
    "reproduce": "reproduce",
}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="symbnn",
        description="MCMC for Bayesian neural networks, made affordable by their symmetries.",
    )
    parser.add_argument("--version", action="version", version=f"symbnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _COMMANDS.items():
        mod = importlib.import_module(f".{module}", __name__)
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=mod.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main, _uses_jax=getattr(mod, "USES_JAX", False))
    return parser


def _show_warning(command, default, message, category, *args, **kwargs):
    """The sampler's verdicts read as the command's own words, not as a Python warning."""
    from ..sampling.convergence import ConvergenceWarning

    if issubclass(category, ConvergenceWarning):
        print(f"symbnn {command}: warning: {message}", file=sys.stderr)
    else:
        default(message, category, *args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args._uses_jax:
        from ..sampling.compilation_cache import enable_compilation_cache

        enable_compilation_cache()  # a second run of the same shapes skips compilation
    try:
        with warnings.catch_warnings():
            warnings.showwarning = partial(_show_warning, args.command, warnings.showwarning)
            return int(args._main(args) or 0)
    except SymbnnError as e:
        print(f"symbnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # A missing, unreadable or unwritable file or a full disk is the user's to fix, not a
        # bug: the message names the file, with no traceback.
        where = f"{e.filename}: " if e.filename else ""
        print(f"symbnn {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Outputs are written only after sampling, so an interrupted command leaves none.
        print(f"symbnn {args.command}: interrupted", file=sys.stderr)
        if args._uses_jax:
            from ..sampling import progress

            if progress.compiling():
                # The interpreter would wait for XLA to finish compiling before it exits;
                # nothing is open for writing, so leave at once.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())
