"""Count the functionally distinct modes of a posterior sample (a posterior .npz written by
symbnn) or of an ensemble (a directory of .npz / .safetensors checkpoints, one network each),
with their weights and the number of chains the union bound asks for."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import CheckpointError

USES_JAX = True  # compiles programs: the command enables the compilation cache
HELP = "number of functionally distinct modes and their weights"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="posterior .npz, or a directory of checkpoints (an ensemble)")
    p.add_argument(
        "--space",
        choices=("function", "parameter"),
        default="function",
        help="compare networks by their outputs on probe inputs, or by their canonicalized "
        "parameters (default: function)",
    )
    p.add_argument("--tol", type=float, default=None, help="RMS distance (default: from the data)")
    p.add_argument(
        "--min-size", type=int, default=2, help="smallest cluster that is a mode (default 2)"
    )
    p.add_argument(
        "--probes", type=int, default=128, help="probe inputs (function space; default 128)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for probes and removal")
    p.add_argument(
        "--confidence", type=float, default=0.99, help="for the chain count (default 0.99)"
    )
    p.add_argument(
        "--activation",
        default="tanh",
        help="hidden activation of checkpoints, which do not store it (default tanh)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def load(path: Path, activation: str):
    """(samples (..., d), spec, description) from a posterior .npz, one checkpoint file, or a
    directory of checkpoints."""
    from ..sampling.posterior import posterior_from_arrays
    from ..symmetry.checkpoints import read_ensemble, read_network, read_npz

    if path.is_dir():
        theta, spec = read_ensemble(path, activation)
        return theta, spec, f"ensemble of {theta.shape[0]} checkpoints"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.suffix == ".npz":
        arrays = read_npz(path, CheckpointError, "cannot read as npz")
        if "samples" in arrays:
            post = posterior_from_arrays(arrays, str(path))
            shape = "×".join(map(str, post.samples.shape[:-1]))
            return post.samples, post.spec, f"posterior of shape {shape}"
    theta, spec = read_network(path, activation)
    return theta[None, :], spec, "a single checkpoint"


def main(args: argparse.Namespace) -> int:
    from ..symmetry.modes import find_modes, recommend_chains

    path = Path(args.path)
    samples, spec, what = load(path, args.activation)
    modes = find_modes(
        samples,
        spec,
        space=args.space,
        tol=args.tol,
        min_size=args.min_size,
        num_probes=args.probes,
        seed=args.seed,
    )
    rec = recommend_chains(modes, args.confidence)
    report = {
        "path": str(path),
        "source": what,
        "spec": spec.to_dict(),
        "space": modes.space,
        "num_samples": modes.num_samples,
        "num_modes": modes.num_modes,
        "counts": modes.counts.tolist(),
        "weights": modes.weights.tolist(),
        "tol": modes.tol,
        "unassigned": modes.unassigned,
        "singletons": modes.singletons,
        "unseen_mass": rec.unseen_mass,
        "confidence": rec.confidence,
        "chains_needed": rec.num_chains,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{path}: {what}, {modes.num_samples} networks of {spec!r}")
    print(
        f"{modes.num_modes} functionally distinct mode{'s' * (modes.num_modes != 1)} "
        f"({modes.space} space, tol {modes.tol:.4g}, {modes.unassigned} unassigned)"
    )
    for k, (c, w) in enumerate(zip(modes.counts, modes.weights, strict=True)):
        print(f"  mode {k}: weight {w:.4f} ({c} samples)")
    print(f"unseen-mode mass (Good–Turing): {rec.unseen_mass:.4g}")
    pct = f"{100 * rec.confidence:.12g}"  # :g would round 99.9999999999 up to 100
    print(f"chains to visit every mode with probability {pct}%: {rec.num_chains}")
    return 0
