"""Argument checks shared across the package, so that each fault raises the same typed error
with the same words wherever it is caught: data (`check_inputs`, `check_targets`,
`check_data`) and counts (`positive_int`)."""

from __future__ import annotations

import numpy as np

from .errors import DataError, ShapeError, SymbnnError


def positive_int(v, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
        raise SymbnnError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _numeric(a: np.ndarray, what: str) -> np.ndarray:
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise DataError(f"{what} must be numeric, got dtype {a.dtype}")
    return a.astype(np.float64)


def _finite(a: np.ndarray, what: str) -> None:
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        where = f"row {bad[0][0]}" + (f", column {bad[0][1]}" if a.ndim > 1 else "")
        raise DataError(f"{what}: {where} is not finite")


def check_inputs(spec, x, what: str = "x") -> np.ndarray:
    """`x` as a float64 `(n, in_features)` array with `n >= 1`, all finite."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != spec.in_features or x.shape[0] == 0:
        raise ShapeError(
            f"{what} must have shape (n, {spec.in_features}) with n >= 1 for this network, "
            f"got {x.shape}"
        )
    x = _numeric(x, what)
    _finite(x, what)
    return x


def check_targets(spec, y, n: int) -> np.ndarray:
    """Regression: `y` as float64 `(n, out)` (`(n,)` accepted for one output), all finite.
    Classification: integer labels `(n,)` in `0..classes-1`, as int64."""
    y = np.asarray(y)
    if spec.likelihood == "categorical":
        if y.shape != (n,):
            raise ShapeError(f"class labels y must have shape ({n},), got {y.shape}")
        yf = _numeric(y, "class labels y")
        if not np.all(np.isfinite(yf)) or np.any(yf != np.round(yf)):
            raise DataError("class labels y must be whole numbers")
        if np.any(yf < 0) or np.any(yf >= spec.out_features):
            raise DataError(f"class labels y must lie in 0..{spec.out_features - 1}")
        return yf.astype(np.int64)
    if y.ndim == 1 and spec.out_features == 1:
        y = y[:, None]
    if y.shape != (n, spec.out_features):
        raise ShapeError(f"y must have shape ({n}, {spec.out_features}) to match x, got {y.shape}")
    y = _numeric(y, "y")
    _finite(y, "y")
    return y


def check_data(spec, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Training or test data for `spec`: `(check_inputs(x), check_targets(y))`."""
    x = check_inputs(spec, x)
    return x, check_targets(spec, y, x.shape[0])
