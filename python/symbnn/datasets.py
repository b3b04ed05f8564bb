"""Data sets: the study's toy generators, a loader for UCI-style numeric tables, and `Dataset`
(a train/test split with the standardization statistics needed to undo it).

The study standardizes features and target with the statistics of the *whole* data set before
splitting 80/20 (paper.md §5); that is the default here, train-only statistics are an option.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Standardized train/test arrays: `x_*` of shape `(n, features)`, `y_*` of shape `(n, 1)`.

    `x_mean, x_std, y_mean, y_std` are the standardization statistics (`raw = z * std + mean`).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray
    name: str = "data"
    train_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def in_features(self) -> int:
        return self.x_train.shape[1]

    def unstandardize_y(self, y: np.ndarray) -> np.ndarray:
        """Standardized targets back to the data's units."""
        return np.asarray(y) * self.y_std + self.y_mean

    def unstandardize_x(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x) * self.x_std + self.x_mean

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape})"


def _check_table(data: np.ndarray, what: str) -> np.ndarray:
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 2:
        raise DataError(
            f"{what}: need a 2-D table with at least 2 rows and 2 columns, got shape {data.shape}"
        )
    bad = np.argwhere(~np.isfinite(data))
    if len(bad):
        r, c = bad[0]
        raise DataError(f"{what}: non-finite value in row {r}, column {c}")
    return data


def split(
    data: np.ndarray,
    *,
    target: int | Sequence[int] = -1,
    test_fraction: float = 0.2,
    seed: int = 0,
    train_index: Sequence[int] | None = None,
    test_index: Sequence[int] | None = None,
    standardize: str = "all",
    name: str = "data",
) -> Dataset:
    """Split a numeric table into a standardized `Dataset`.

    `target`: the column(s) to predict (the rest are features). A seeded random split with
    `test_fraction` of the rows held out, unless `train_index`/`test_index` are given (e.g. from
    the study's splits JSON). `standardize`: `"all"` (the study's choice: statistics of the whole
    table), `"train"` (training rows only) or `"none"`.
    """
    data = _check_table(data, name)
    n, cols = data.shape
    tcols = [target] if isinstance(target, int) else list(target)
    try:
        tcols = sorted({range(cols)[t] for t in tcols})
    except IndexError:
        raise DataError(f"{name}: target column {target} out of range for {cols} columns") from None
    fcols = [c for c in range(cols) if c not in tcols]
    if not fcols:
        raise DataError(f"{name}: no feature columns left after taking target {target}")

    if (train_index is None) != (test_index is None):
        raise DataError("give both train_index and test_index, or neither")
    if train_index is None:
        if not 0.0 < test_fraction < 1.0:
            raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}")
        perm = np.random.default_rng(seed).permutation(n)
        n_test = max(1, round(n * test_fraction))
        test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    else:
        train_idx = _row_numbers(train_index, "train_index", name, n)
        test_idx = _row_numbers(test_index, "test_index", name, n)
        if np.intersect1d(train_idx, test_idx).size:
            raise DataError(f"{name}: train_index and test_index overlap")

    if standardize not in ("all", "train", "none"):
        raise DataError(f"standardize must be 'all', 'train' or 'none', got {standardize!r}")
    if standardize == "none":
        mean, std, z = np.zeros(cols), np.ones(cols), data
    else:
        rows = train_idx if standardize == "train" else slice(None)
        mean, std, z = _standardize(data, rows)
    return Dataset(
        x_train=z[np.ix_(train_idx, fcols)],
        y_train=z[np.ix_(train_idx, tcols)],
        x_test=z[np.ix_(test_idx, fcols)],
        y_test=z[np.ix_(test_idx, tcols)],
        x_mean=mean[fcols],
        x_std=std[fcols],
        y_mean=mean[tcols],
        y_std=std[tcols],
        name=name,
        train_index=train_idx,
        test_index=test_idx,
    )


def _row_numbers(index, what: str, name: str, n: int) -> np.ndarray:
    """`index` as int64 row numbers, refusing what a cast would silently change: fractions,
    booleans, numbers beyond int64, strings, nesting."""
    try:
        values = list(index)
    except TypeError:
        values = []
    if not values:
        raise DataError(f"{name}: {what} must be a non-empty list of row numbers")
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        raise DataError(f"{name}: {what} must be a list of integer row numbers")
    if not all(0 <= v < n for v in values):
        raise DataError(f"{name}: {what} holds rows outside 0..{n - 1}")
    return np.asarray(values, dtype=np.int64)


def _standardize(data: np.ndarray, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, standardized table) with the statistics of `rows`. Each column is first
    divided by a power of two near its largest magnitude: exact, so ordinary data give the same
    bits, while sums of values near 1e307 no longer overflow to inf (which zeroed such a target
    and made such a feature non-finite)."""
    _, exponent = np.frexp(np.abs(data).max(axis=0))
    scale = np.ldexp(1.0, exponent)
    u = data / scale
    mean, std = u[rows].mean(0), u[rows].std(0)
    constant = ~(std > 0)
    z = (u - mean) / np.where(constant, 1.0, std)
    # A constant column stays centred but unscaled: its std is reported as 1.
    z[:, constant] *= scale[constant]
    return mean * scale, np.where(constant, 1.0, std * scale), z


def sinusoidal(n: int = 150, seed: int = 0, noise: float = 0.3, **kwargs) -> Dataset:
    """The study's sinusoid: `x ~ U(0, 8)`, `y = sin(x) + N(0, noise²)`; split and standardized
    as `split` does (keyword arguments pass through)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 8.0, n)
    y = np.sin(x) + noise * rng.standard_normal(n)
    return split(np.stack([x, y], 1), seed=seed, name="sinusoidal", **kwargs)


def regression2d(n: int = 256, seed: int = 0, noise: float = 0.1, **kwargs) -> Dataset:
    """The study's 2-D regression: `x ~ U(-2, 2)²`, `y = x₀ (sin x₀ + cos x₁) + N(0, noise²)`."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, (n, 2))
    y = x[:, 0] * (np.sin(x[:, 0]) + np.cos(x[:, 1])) + noise * rng.standard_normal(n)
    return split(np.column_stack([x, y]), seed=seed, name="regression2d", **kwargs)


GENERATORS = {"sinusoidal": sinusoidal, "regression2d": regression2d}


def read_table(path: str | Path, delimiter: str | None = None) -> np.ndarray:
    """Parse a whitespace- (default) or `delimiter`-separated numeric file into a float64
    table. Blank lines and lines starting with `#` are skipped. Errors name the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text table ({e})") from None
    rows: list[list[float]] = []
    width = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        cells = [c.strip() for c in s.split(delimiter)]
        try:
            row = [float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _is_float(c))
            raise DataError(f"{path}, line {lineno}: non-numeric cell {bad!r}") from None
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise DataError(
                f"{path}, line {lineno}: {len(row)} columns where earlier lines have {width}"
            )
        for col, (cell, v) in enumerate(zip(cells, row, strict=True)):
            if math.isfinite(v):
                continue
            if "n" in cell.lower():  # nan, inf, infinity: written so in the file
                raise DataError(f"{path}, line {lineno}: non-finite value (NaN or inf)")
            raise DataError(
                f"{path}, line {lineno}, column {col}: {cell} overflows float64 "
                "(the largest magnitude is about 1.8e308)"
            )
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: empty file (no numeric rows)")
    return np.asarray(rows, dtype=np.float64)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def load_table(
    path: str | Path,
    target: int | Sequence[int] = -1,
    delimiter: str | None = None,
    *,
    splits: str | Path | None = None,
    split_name: str | None = None,
    **kwargs,
) -> Dataset:
    """Load a UCI-style numeric file as a `Dataset`.

    With `splits` (a JSON file like the study's `splits.json`, mapping a data set name to
    `{"train": [...], "test": [...]}`) the rows follow that split; `split_name` picks the entry
    (default: the file's stem). Other keyword arguments go to `split`.
    """
    path = Path(path)
    data = read_table(path, delimiter)
    if splits is not None:
        key = split_name or path.stem
        try:
            text = Path(splits).read_text()
        except FileNotFoundError:
            raise DataError(f"{splits}: no such file") from None
        except OSError as e:
            raise DataError(f"{splits}: cannot read ({e.strerror or e})") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{splits}: not a JSON text ({e})") from None
        try:
            entry = json.loads(text)[key]
            kwargs["train_index"], kwargs["test_index"] = entry["train"], entry["test"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
            raise DataError(f"{splits}: no usable split named {key!r} ({str(e)[:200]})") from None
        if not all(isinstance(kwargs[k], list) for k in ("train_index", "test_index")):
            raise DataError(f"{splits}: split {key!r}: 'train' and 'test' must be lists of rows")
    kwargs.setdefault("name", path.stem)
    return split(data, target=target, **kwargs)


def load(name_or_path: str, *, data_dir: str | Path | None = None, **kwargs) -> Dataset:
    """A built-in generator by name (`sinusoidal`, `regression2d`), else a file: `NAME.data`
    in `data_dir` (using `data_dir/splits.json` when present) or a path."""
    if name_or_path in GENERATORS and data_dir is None:
        return GENERATORS[name_or_path](**kwargs)
    path = Path(name_or_path)
    if data_dir is not None and not path.exists():
        path = Path(data_dir) / f"{name_or_path}.data"
        sp = Path(data_dir) / "splits.json"
        if sp.exists() and "splits" not in kwargs and "train_index" not in kwargs:
            kwargs["splits"] = sp
    if not path.exists():
        raise DataError(f"no data set named {name_or_path!r} and no such file: {path}")
    return load_table(path, **kwargs)
