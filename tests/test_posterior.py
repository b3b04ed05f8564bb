"""`Posterior`: shape helpers, the `.npz` round trip, refusing bad files, and arviz."""

import importlib.util
import json
import zipfile

import numpy as np
import pytest

import symbnn
from symbnn import DataError, Posterior, load_posterior


def make_posterior(chains=5, draws=3, noise=True):
    spec = symbnn.MLP(1, hidden=(3,), activation="tanh")
    rng = np.random.default_rng(0)
    finite = np.ones(chains, bool)
    finite[1] = False
    return Posterior(
        spec=spec,
        samples=rng.normal(size=(chains, draws, spec.num_params)),
        noise_std=rng.uniform(0.1, 1, size=(chains, draws)) if noise else None,
        diagnostics={
            "acceptance_rate": rng.uniform(size=chains),
            "divergences": np.arange(chains),
            "finite": finite,
            "inverse_mass_matrix": rng.uniform(size=(chains, spec.position_size)),
        },
        timings={"compile_s": 1.5, "run_s": 2.0, "total_s": 3.6},
        settings={"kernel": "nuts", "seed": np.int64(3), "kernel_options": {"a": None}},
        rounds=[{"chains": 5, "modes": 2}],
    )


def test_shapes():
    post = make_posterior()
    assert (post.num_chains, post.num_draws) == (5, 3)
    flat = post.flat_samples()
    assert flat.shape == (15, 10)
    np.testing.assert_array_equal(flat[3], post.samples[1, 0])  # chain-major
    assert "non_finite_chains=1" in repr(post)


@pytest.mark.parametrize("noise", [True, False])
def test_save_load_round_trip(tmp_path, noise):
    post = make_posterior(noise=noise)
    path = post.save(tmp_path / "post.npz")
    back = load_posterior(path)
    assert back.spec == post.spec
    np.testing.assert_array_equal(back.samples, post.samples)
    if noise:
        np.testing.assert_array_equal(back.noise_std, post.noise_std)
    else:
        assert back.noise_std is None
    assert back.diagnostics.keys() == post.diagnostics.keys()
    for k, v in post.diagnostics.items():
        np.testing.assert_array_equal(back.diagnostics[k], v)
        assert back.diagnostics[k].dtype == v.dtype
    assert back.timings == post.timings
    assert back.settings == {"kernel": "nuts", "seed": 3, "kernel_options": {"a": None}}
    assert back.rounds == post.rounds
    assert [p.name for p in tmp_path.iterdir()] == ["post.npz"]  # no temporary file left


def test_save_any_suffix_and_overwrite(tmp_path):
    path = tmp_path / "run.posterior"
    make_posterior(chains=2).save(path)
    make_posterior(chains=4).save(path)
    assert load_posterior(path).num_chains == 4


def test_failed_save_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "post.npz"
    make_posterior().save(path)
    bad = make_posterior()
    bad.settings["oops"] = object()
    with pytest.raises(TypeError, match="JSON"):
        bad.save(path)
    assert load_posterior(path).num_chains == 5
    assert [p.name for p in tmp_path.iterdir()] == ["post.npz"]


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_bad_files_are_refused_with_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_posterior(tmp_path / "missing.npz")

    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable posterior"):
        load_posterior(junk)

    pickled = tmp_path / "pickled.npz"
    with open(pickled, "wb") as f:
        np.savez(f, samples=np.array([{"a": 1}], dtype=object), metadata=np.asarray("{}"))
    with pytest.raises(DataError, match="not a readable posterior"):
        load_posterior(pickled)  # never unpickles

    good = tmp_path / "good.npz"
    post = make_posterior()
    post.save(good)
    meta = json.loads(str(np.load(good)["metadata"]))

    cases = [
        ({"metadata": None}, "missing 'metadata'"),
        ({"metadata": np.asarray("{not json")}, "not valid JSON"),
        ({"metadata": np.asarray(json.dumps({**meta, "format": "x"}))}, "format 'x'"),
        ({"metadata": np.asarray(json.dumps({**meta, "version": 99}))}, "version 99"),
        ({"metadata": np.asarray(json.dumps({**meta, "spec": {"sizes": [0]}}))}, "bad spec"),
        ({"samples": np.zeros((5, 3, 7))}, r"expected \(chains, draws, 10\)"),
        ({"noise_std": np.zeros((5, 2))}, "noise_std has shape"),
        ({"diagnostics.finite": np.ones(4, bool)}, "one row per chain"),
        ({"extra": np.ones(5)}, "unexpected entry 'extra'"),
    ]
    for i, (change, match) in enumerate(cases):
        path = tmp_path / f"case{i}.npz"
        path.write_bytes(good.read_bytes())
        _rewrite(path, **change)
        with pytest.raises(DataError, match=match):
            load_posterior(path)
    assert zipfile.is_zipfile(good)


@pytest.mark.skipif(importlib.util.find_spec("arviz") is not None, reason="arviz installed")
def test_to_arviz_without_arviz_says_how_to_get_it():
    with pytest.raises(ImportError, match="pip install arviz"):
        make_posterior().to_arviz()


@pytest.mark.skipif(importlib.util.find_spec("arviz") is None, reason="arviz not installed")
def test_to_arviz():
    post = make_posterior()
    idata = post.to_arviz()
    assert idata.posterior["theta"].shape == (5, 3, 10)
    assert idata.posterior["noise_std"].shape == (5, 3)
    assert idata.sample_stats["divergences"].shape == (5, 3)
    assert "inverse_mass_matrix" not in idata.sample_stats  # not one value per chain
