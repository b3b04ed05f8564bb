"""Canonicalization speed, side by side in one run (paper.md §3).

Samples: 100,000 draws of the study's f2 (8 inputs, three tanh layers of 16, d = 705) in float64.
- `copy`: `theta.copy()`, the memory floor (read the batch once, write it once);
- `rust`: `symbnn.canonicalize` (target: within 2x of the copy);
- `numpy`: a good vectorized numpy implementation, sign fix by the bias then `argsort`,
  in cache-sized chunks (target: at least 8x slower than ours).
Checkpoints: files per second for a directory of 1,000 f2 checkpoints (flax layout,
safetensors) through `symbnn canonicalize DIR -o OUT`, next to the I/O floor (load and save
every file with safetensors, nothing else).

Run: `maturin develop --release && pytest benches/bench_canonicalize.py --benchmark-enable`.
The ratios are printed at the end (`-s` not needed).
"""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from symbnn import canonicalize
from symbnn.cli import main

SIZES = [8, 16, 16, 16, 1]
F2 = (SIZES, "tanh")
D = 705
N = 100_000
FILES = 1_000
RESULTS: dict[str, float] = {}


def numpy_canonicalize(theta: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Sign fix (positive bias) and sort by bias, vectorized over samples, layer by layer."""
    out = theta.copy()
    offsets, off = [], 0
    for a, b in zip(SIZES[:-1], SIZES[1:], strict=True):
        offsets.append((off, off + a * b))
        off += a * b + b
    for start in range(0, out.shape[0], chunk):
        block = out[start : start + chunk]
        n = block.shape[0]
        for k in range(len(SIZES) - 2):
            a, m, o = SIZES[k], SIZES[k + 1], SIZES[k + 2]
            (w0, b0), (w1, _) = offsets[k], offsets[k + 1]
            w = block[:, w0:b0].reshape(n, a, m)
            b = block[:, b0 : b0 + m]
            w2 = block[:, w1 : w1 + m * o].reshape(n, m, o)
            s = np.where(b < 0, -1.0, 1.0)
            w *= s[:, None, :]
            b *= s
            w2 *= s[:, :, None]
            order = np.argsort(b, axis=1)
            w[...] = np.take_along_axis(w, order[:, None, :], axis=2)
            b[...] = np.take_along_axis(b, order, axis=1)
            w2[...] = np.take_along_axis(w2, order[:, :, None], axis=1)
    return out


@pytest.fixture(scope="module")
def samples():
    return np.random.default_rng(0).standard_normal((N, D))


def record(benchmark, name):
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        RESULTS[name] = stats.stats.median
        RESULTS[name + "_min"] = stats.stats.min


def test_the_baseline_computes_the_same_map(samples):
    # Without zero biases and ties (random draws) the baseline's rule is ours exactly.
    np.testing.assert_array_equal(
        numpy_canonicalize(samples[:2000]), canonicalize(samples[:2000], F2)
    )


@pytest.mark.benchmark(group="canonicalize 100k x f2 (float64)")
def test_copy(benchmark, samples):
    benchmark.pedantic(np.copy, args=(samples,), rounds=5, warmup_rounds=1)
    record(benchmark, "copy")


@pytest.mark.benchmark(group="canonicalize 100k x f2 (float64)")
def test_rust(benchmark, samples):
    benchmark.pedantic(canonicalize, args=(samples, F2), rounds=5, warmup_rounds=1)
    record(benchmark, "rust")


@pytest.mark.benchmark(group="canonicalize 100k x f2 (float64)")
def test_numpy(benchmark, samples):
    benchmark.pedantic(numpy_canonicalize, args=(samples,), rounds=3, warmup_rounds=0)
    record(benchmark, "numpy")


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    rng = np.random.default_rng(1)
    for i in range(FILES):
        theta, arrays, off = rng.standard_normal(D), {}, 0
        for k, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
            arrays[f"params.Dense_{k}.kernel"] = theta[off : off + a * b].reshape(a, b)
            arrays[f"params.Dense_{k}.bias"] = theta[off + a * b : off + a * b + b]
            off += a * b + b
        save_file(arrays, str(root / f"member{i:04d}.safetensors"))
    return root


@pytest.mark.benchmark(group="1,000 f2 checkpoints")
def test_files_io_floor(benchmark, checkpoint_dir, tmp_path):
    files = sorted(checkpoint_dir.iterdir())

    def copy_all():
        for f in files:
            save_file(load_file(str(f)), str(tmp_path / f.name))

    benchmark.pedantic(copy_all, rounds=3, warmup_rounds=1)
    record(benchmark, "files_io")


@pytest.mark.benchmark(group="1,000 f2 checkpoints")
def test_files_cli(benchmark, checkpoint_dir, tmp_path, capsys):
    out = tmp_path / "canonical"
    benchmark.pedantic(
        main,
        args=(["canonicalize", str(checkpoint_dir), "-o", str(out)],),
        rounds=3,
        warmup_rounds=1,
    )
    assert len(list(out.iterdir())) == FILES
    record(benchmark, "files_cli")
    if {"copy", "rust", "numpy"} <= RESULTS.keys():
        r = RESULTS
        lines = [
            f"canonicalize {N:,} x f2, median (min) seconds: copy {r['copy']:.3f} "
            f"({r['copy_min']:.3f}), rust {r['rust']:.3f} ({r['rust_min']:.3f}), "
            f"numpy {r['numpy']:.3f} ({r['numpy_min']:.3f})",
            f"  rust / copy  = {r['rust'] / r['copy']:.2f} of medians, "
            f"{r['rust_min'] / r['copy_min']:.2f} of minima  (target <= 2)",
            f"  numpy / rust = {r['numpy'] / r['rust']:.1f} of medians, "
            f"{r['numpy_min'] / r['rust_min']:.1f} of minima  (target >= 8)",
            f"checkpoints: {FILES / r['files_cli']:.0f} files/s "
            f"(I/O floor {FILES / r['files_io']:.0f} files/s), medians",
        ]
        with capsys.disabled():
            print("\n" + "\n".join(lines))
