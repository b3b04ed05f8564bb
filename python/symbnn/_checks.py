"""Argument checks shared across the package: each fault raises the same typed error, with the
same words, wherever it is caught."""

from __future__ import annotations

import numpy as np

from .errors import NonFiniteError, ShapeError, SymbnnError


def positive_int(v, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
        raise SymbnnError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def check_data(spec, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ShapeError(f"x must have shape (n, features), got {x.shape}")
    if x.shape[0] == 0:
        raise ShapeError("x has no rows")
    if x.shape[1] != spec.in_features:
        raise ShapeError(
            f"x has {x.shape[1]} features but the spec's in_features is {spec.in_features}"
        )
    if y.shape[:1] != x.shape[:1]:
        raise ShapeError(f"x has {x.shape[0]} rows but y has shape {y.shape}")
    if spec.likelihood == "categorical":
        if y.ndim != 1:
            raise ShapeError(f"class labels y must have shape ({x.shape[0]},), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise SymbnnError("class labels y must be integers")
            y = y.astype(np.int64)
        if y.min() < 0 or y.max() >= spec.out_features:
            raise SymbnnError(f"class labels must lie in 0..{spec.out_features - 1}")
    else:
        if y.ndim == 1 and spec.out_features == 1:
            y = y[:, None]
        if y.shape != (x.shape[0], spec.out_features):
            raise ShapeError(
                f"y must have shape ({x.shape[0]}, {spec.out_features}), got {y.shape}"
            )
    for name, a in (("x", x), ("y", y)):
        if not np.issubdtype(a.dtype, np.number):
            raise SymbnnError(f"{name} must be numeric, got dtype {a.dtype}")
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            raise NonFiniteError(f"{name} holds a non-finite value at index {tuple(bad[0])}")
    return x, y
