"""Helpers shared by the commands: the data options and their loading, `--option KEY=VALUE`
pairs, and `--hidden` widths."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from ..errors import SymbnnError


def add_data_arguments(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The data options, shared with `symbnn run` (which defaults to the sinusoid)."""
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--dataset", help="built-in generator, or a NAME.data in --data-dir")
    src.add_argument("--data", type=Path, help="a numeric table (target in the last column)")
    p.add_argument("--data-dir", type=Path, help="folder of NAME.data files and splits.json")
    p.add_argument("--splits", type=Path, help="a splits JSON for --data (study format)")
    p.add_argument("--split-name", help="entry of --splits to use (default: the file's stem)")


def load_data(args: argparse.Namespace):
    """`(Dataset, source)` from the data options; no source at all means the sinusoid."""
    from .. import datasets

    if args.data is not None:
        data = datasets.load_table(args.data, splits=args.splits, split_name=args.split_name)
        return data, str(args.data)
    name = args.dataset or "sinusoidal"
    data = datasets.load(name, data_dir=args.data_dir)
    return data, str(args.data_dir / f"{name}.data") if args.data_dir else "generator"


def parse_options(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise SymbnnError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value  # a bare string, e.g. mass_matrix=diagonal
    return out


def parse_hidden(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d+([x,]\d+)*", text):
        raise SymbnnError(f"--hidden {text!r}: expected widths like 3 or 16x16x16")
    return tuple(int(h) for h in re.split(r"[x,]", text))
