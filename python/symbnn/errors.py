"""The exception hierarchy. Every symbnn error is a `SymbnnError`, itself a `ValueError`, so
callers can catch either. The classes are defined once, in the Rust extension, which raises them
directly; the Python layer raises the same classes (and the two Python-only ones below)."""

from ._core import NonFiniteError, ShapeError, SymbnnError, UnsupportedError, WeightsError


class DataError(SymbnnError):
    """A data file or array that cannot be used: it does not parse, is ragged, or holds NaN."""


class CheckpointError(SymbnnError):
    """A checkpoint file that is not a plain MLP, or whose layers do not chain."""


__all__ = [
    "CheckpointError",
    "DataError",
    "NonFiniteError",
    "ShapeError",
    "SymbnnError",
    "UnsupportedError",
    "WeightsError",
]
