"""How many independent chains visit every mode with a chosen probability: E[G] and the Markov
(the study's), union and exact counts side by side. Weights default to the study's half-normal
weights for --modes modes."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import SymbnnError, WeightsError

HELP = "number of chains needed to visit every mode (Markov, union and exact bounds)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--modes",
        type=int,
        metavar="NU",
        help="number of functionally distinct modes (weights: the study's half-normal default)",
    )
    p.add_argument(
        "--weights",
        metavar="W1,W2,...",
        help="comma-separated mode probabilities instead of the default weights",
    )
    p.add_argument(
        "--normalize",
        action="store_true",
        help="rescale --weights to sum to 1 (otherwise they must already)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.99,
        metavar="P",
        help="probability that every mode is visited (default 0.99)",
    )
    p.add_argument(
        "--method",
        choices=("exact", "union", "markov"),
        help="show only this count (default: all three; the tightest rigorous one is marked)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from ..chains import bound as chains

    if args.weights is not None:
        weights = np.asarray(_parse_weights(args.weights))
        if args.modes is not None and args.modes != len(weights):
            raise SymbnnError(
                f"--modes {args.modes} does not match the {len(weights)} values of --weights"
            )
        source = "given"
    elif args.modes is not None:
        weights = chains.halfnormal_weights(args.modes)
        source = "halfnormal"
    else:
        raise SymbnnError("give --modes NU (the study's weights) or --weights W1,W2,...")

    nu = len(weights)
    recommended = chains.recommended_method(nu)
    shown: list[chains.Method] = [args.method] if args.method else list(chains.METHODS)
    expected = chains.expected_chains(weights, normalize=args.normalize)
    counts: dict[str, int | None] = {}
    notes: dict[str, str] = {}
    for method in shown:
        try:
            counts[method] = chains.chains_needed(
                weights, args.confidence, method, normalize=args.normalize
            )
        except SymbnnError as e:
            if method != "exact" or nu <= chains.MAX_EXACT_MODES:
                raise
            counts[method] = None
            notes[method] = str(e)
    chosen = args.method or recommended
    if args.normalize:
        weights = np.asarray(weights) / np.sum(weights)

    if args.json:
        out = {
            "modes": nu,
            "weights_source": source,
            "weights": [float(w) for w in weights],
            "confidence": args.confidence,
            "expected_chains": expected,
            "chains": counts,
            "method": chosen,
            "chains_needed": counts.get(chosen),
        }
        if notes:
            out["notes"] = notes
        json.dump(out, sys.stdout)
        print()
        return 0

    described = "the study's half-normal weights" if source == "halfnormal" else "given weights"
    print(f"modes       {nu}  ({described})")
    if nu <= 10:
        print("weights     " + ", ".join(f"{w:.4g}" for w in weights))
    print(f"confidence  {args.confidence!r}")  # :g would round 0.999999999999 up to 1
    print(f"E[G]        {expected:.6g}")
    labels = {
        "markov": "Markov bound, the study's: ceil(E[G] / (1 - p))",
        "union": "union bound: sum_j (1 - pi_j)^t <= 1 - p",
        "exact": "exact quantile: P(G <= t) >= p",
    }
    width = max(len(str(c)) for c in counts.values() if c is not None) if counts else 1
    print()
    print(f"{'method':<8}{'chains':>{max(width, 6)}}")
    for method in shown:
        count = counts[method]
        text = "n/a" if count is None else str(count)
        mark = "  <- default" if method == recommended and not args.method else ""
        print(f"{method:<8}{text:>{max(width, 6)}}  {labels[method]}{mark}")
    for name, note in notes.items():
        print(f"\n{name}: {note}")
    return 0


def _parse_weights(text: str) -> list[float]:
    values = []
    for i, token in enumerate(text.split(",")):
        try:
            values.append(float(token))
        except ValueError:
            raise WeightsError(
                f"--weights: value {i} ({token.strip()!r}) is not a number"
            ) from None
    return values
