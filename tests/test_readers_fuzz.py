"""Every file reader on damaged input: random bytes, a valid file truncated at every offset, bit
flips and crafted metadata. Only a `SymbnnError` may come out (or a result, where the damage
left a valid file), never another exception, never a hang, never an unpickle."""

import contextlib
import json
import pickle
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from symbnn import MLP, Posterior, SymbnnError
from symbnn.cli.modes import load as modes_load
from symbnn.datasets import load_table
from symbnn.sampling.posterior import load_posterior
from symbnn.symmetry.checkpoints import read_network

FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@contextlib.contextmanager
def _limited(seconds=5):
    """A hang becomes a test failure rather than a stuck test run."""

    def expire(*_):
        raise AssertionError(f"a reader took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(autouse=True)
def _no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a reader unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


def _posterior_bytes(tmp_path):
    spec = MLP(1, (2,))
    rng = np.random.default_rng(0)
    post = Posterior(
        spec,
        rng.normal(size=(2, 1, spec.num_params)),
        np.ones((2, 1)),
        diagnostics={"finite": np.ones(2, bool)},
        timings={"total_s": 1.0},
        settings={"kernel": "nuts"},
    )
    return post.save(tmp_path / "valid.npz").read_bytes()


def _flax_npz_bytes(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "params.Dense_0.kernel": rng.normal(size=(1, 2)),
        "params.Dense_0.bias": rng.normal(size=2),
        "params.Dense_1.kernel": rng.normal(size=(2, 1)),
        "params.Dense_1.bias": rng.normal(size=1),
    }
    np.savez(tmp_path / "valid.npz", **arrays)
    return (tmp_path / "valid.npz").read_bytes()


def _torch_safetensors_bytes(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {"0.weight": rng.normal(size=(2, 1)), "0.bias": rng.normal(size=2)}
    arrays |= {"2.weight": rng.normal(size=(1, 2)), "2.bias": rng.normal(size=1)}
    save_file(arrays, str(tmp_path / "valid.safetensors"), metadata={"activation": "tanh"})
    return (tmp_path / "valid.safetensors").read_bytes()


_TABLE = b"".join(b"%d.5 %d.25\n" % (i, 3 * i % 7) for i in range(12))
_SPLITS = json.dumps({"t": {"train": list(range(9)), "test": [9, 10, 11]}}).encode()


def _read_table(path):
    return load_table(path)


def _read_splits(path):
    table = path.with_name("t.data")
    table.write_bytes(_TABLE)
    return load_table(table, splits=path)


def _read_checkpoint(path):
    return read_network(path)


# (name, file suffix, valid bytes, reader)
READERS = [
    ("posterior", ".npz", _posterior_bytes, load_posterior),
    ("posterior via modes", ".npz", _posterior_bytes, lambda p: modes_load(p, "tanh")),
    ("npz checkpoint", ".npz", _flax_npz_bytes, _read_checkpoint),
    ("safetensors checkpoint", ".safetensors", _torch_safetensors_bytes, _read_checkpoint),
    ("data table", ".data", lambda _: _TABLE, _read_table),
    ("splits.json", ".json", lambda _: _SPLITS, _read_splits),
]
IDS = [r[0] for r in READERS]


def _only_symbnn_errors(reader, path, data: bytes):
    path.write_bytes(data)
    with _limited():
        try:
            reader(path)
        except SymbnnError:
            pass


@pytest.mark.parametrize(("name", "suffix", "make", "reader"), READERS, ids=IDS)
def test_valid_files_read(tmp_path, name, suffix, make, reader):
    path = tmp_path / f"f{suffix}"
    path.write_bytes(make(tmp_path))
    reader(path)  # the fixtures themselves are good


@pytest.mark.parametrize(("name", "suffix", "make", "reader"), READERS, ids=IDS)
def test_truncated_at_every_offset(tmp_path, name, suffix, make, reader):
    data = make(tmp_path)
    path = tmp_path / f"f{suffix}"
    step = max(1, len(data) // 200)  # every offset for small files, ~200 for larger ones
    for end in range(0, len(data), step):
        _only_symbnn_errors(reader, path, data[:end])


@pytest.mark.parametrize(("name", "suffix", "make", "reader"), READERS, ids=IDS)
def test_bit_flips(tmp_path, name, suffix, make, reader):
    data = make(tmp_path)
    path = tmp_path / f"f{suffix}"
    rng = np.random.default_rng(0)
    # Headers first: that is where a flip changes what a reader believes about the rest.
    positions = list(range(min(len(data), 100))) + list(rng.integers(0, len(data), 100))
    for pos in positions:
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(8))
        _only_symbnn_errors(reader, path, bytes(flipped))


@pytest.mark.parametrize(("name", "suffix", "make", "reader"), READERS, ids=IDS)
@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(tmp_path, name, suffix, make, reader, data):
    _only_symbnn_errors(reader, tmp_path / f"r{suffix}", data)


@pytest.mark.parametrize(("name", "suffix", "make", "reader"), READERS, ids=IDS)
@FUZZ
@given(
    prefix=st.sampled_from([b"PK\x03\x04", b"\x93NUMPY", b"\x80\x04", b"{", b"\x10\x00"]),
    data=st.binary(max_size=300),
)
def test_random_bytes_behind_a_known_magic(tmp_path, name, suffix, make, reader, prefix, data):
    _only_symbnn_errors(reader, tmp_path / f"m{suffix}", prefix + data)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_META_KEYS = st.sampled_from(["format", "version", "spec", "settings", "timings", "rounds"])
_SPEC_KEYS = st.sampled_from(["sizes", "activation", "likelihood", "prior_scale"])


@FUZZ
@given(key=_META_KEYS, spec_key=_SPEC_KEYS, value=_json, nested=st.booleans())
def test_crafted_posterior_metadata(tmp_path, key, spec_key, value, nested):
    path = tmp_path / "p.npz"
    path.write_bytes(_posterior_bytes(tmp_path))
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["metadata"]))
    if nested:
        meta["spec"][spec_key] = value
    else:
        meta[key] = value
    arrays["metadata"] = np.asarray(json.dumps(meta))
    np.savez(path, **arrays)
    _only_symbnn_errors(load_posterior, path, path.read_bytes())


@pytest.mark.parametrize(
    "entry",
    [
        {"metadata": np.arange(3)},
        {"metadata": np.asarray(b"{}")},
        {"samples": np.zeros((2, 1, 9), dtype=np.int64)},
        {"samples": np.zeros((0, 1, 7))},
        {"noise_std": np.zeros((2, 1), dtype=np.complex128)},
        {"diagnostics.finite": np.ones(2)},
        {"samples": np.array([{"a": 1}, None], dtype=object)},
    ],
)
def test_crafted_posterior_entries(tmp_path, entry):
    path = tmp_path / "p.npz"
    path.write_bytes(_posterior_bytes(tmp_path))
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(entry)
    np.savez(path, **arrays)
    with pytest.raises(SymbnnError):
        load_posterior(path)
