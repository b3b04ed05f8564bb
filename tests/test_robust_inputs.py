"""Bad arguments and files give a `SymbnnError` naming the problem, never another exception."""

import numpy as np
import pytest

from symbnn import MLP, SymbnnError


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((1,), {"hidden": (-1,)}, r"hidden\[0\] must be a positive integer, got -1"),
        ((-1, (3,)), {}, "in_features must be a positive integer"),
        ((1,), {"hidden": (2**70,)}, "memory"),
        ((1,), {"hidden": (3.5,)}, r"hidden\[0\] must be a positive integer, got 3.5"),
        ((1,), {"hidden": (2**40,)}, "3.3e\\+12 parameters"),
        ((1, (3,), True), {}, "out_features must be a positive integer"),
        ((1,), {"hidden": None}, "sequence of widths"),
        ((1,), {"prior_scale": "1"}, "prior_scale"),
        ((1,), {"activation": ["tanh"]}, "unknown activation"),
    ],
)
def test_mlp_refuses_bad_sizes(args, kwargs, match):
    with pytest.raises(SymbnnError, match=match):
        MLP(*args, **kwargs)


def test_mlp_accepts_numpy_integers():
    assert MLP(np.int64(2), (np.int32(4), 3)).sizes == (2, 4, 3, 1)


# --- posterior files --------------------------------------------------------------------------
def _posterior(chains=3):
    from symbnn import Posterior

    rng = np.random.default_rng(0)
    spec = MLP(1, (2,))
    return Posterior(
        spec,
        rng.normal(size=(chains, 2, spec.num_params)),
        np.ones((chains, 2)),
        diagnostics={"finite": np.arange(chains) != 1, "step_size": np.arange(chains) + 0.5},
        timings={"total_s": 1.0},
        settings={"kernel": "nuts", "options": {"a": [1]}},
    )


def _with_metadata(path, meta):
    """Rewrite the metadata entry of a saved posterior."""
    import json

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["metadata"] = np.asarray(meta if isinstance(meta, str) else json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: "[1, 2]", "metadata is a JSON list, not an object"),
        (lambda m: "[" * 100_000, "metadata is not valid JSON"),
        (lambda m: {**m, "spec": {**m["spec"], "sizes": [1, -2, 1]}}, "bad spec.*positive"),
        (lambda m: {**m, "spec": {**m["spec"], "sizes": [1, 2**70, 1]}}, "bad spec.*memory"),
        (lambda m: {**m, "spec": [1, 2, 1]}, "bad spec"),
        (lambda m: {**m, "timings": [1, 2]}, "'timings' must map names to seconds"),
        (lambda m: {**m, "timings": {"total_s": "1"}}, "'timings' must map names to seconds"),
        (lambda m: {**m, "settings": 3}, "'settings' must be a JSON object"),
        (lambda m: {**m, "rounds": {}}, "'rounds' must be a JSON list"),
        (lambda m: {**m, "version": True}, "version True"),
    ],
)
def test_crafted_posterior_metadata_is_refused(tmp_path, capsys, change, match):
    import json

    from symbnn import DataError, load_posterior
    from symbnn.cli import main

    path = _posterior().save(tmp_path / "p.npz")
    with np.load(path) as z:
        meta = json.loads(str(z["metadata"]))
    _with_metadata(path, change(meta))
    with pytest.raises(DataError, match=match):
        load_posterior(path)
    assert main(["modes", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symbnn modes: error: {path}: ") and err.count(str(path)) == 1, err


def test_empty_and_truncated_posteriors_are_refused(tmp_path, capsys):
    from symbnn import DataError, load_posterior
    from symbnn.cli import main

    path = _posterior().save(tmp_path / "p.npz")
    empty, cut = tmp_path / "e.npz", tmp_path / "t.npz"
    empty.touch()
    cut.write_bytes(path.read_bytes()[:700])
    for bad, match in ((empty, "an empty file"), (cut, "damaged")):
        with pytest.raises(DataError, match=match):
            load_posterior(bad)
        assert main(["modes", str(bad)]) == 2
        err = capsys.readouterr().err
        assert f"symbnn modes: error: {bad}: " in err and "Traceback" not in err


def test_select_slices_every_per_chain_array():
    from symbnn import ShapeError

    post = _posterior()
    kept = post.select(post.diagnostics["finite"])
    assert kept.num_chains == 2 and kept.spec == post.spec
    np.testing.assert_array_equal(kept.samples, post.samples[[0, 2]])
    np.testing.assert_array_equal(kept.noise_std, post.noise_std[[0, 2]])
    np.testing.assert_array_equal(kept.diagnostics["step_size"], [0.5, 2.5])
    assert kept.diagnostics["finite"].all() and kept.settings == post.settings
    kept.settings["options"]["a"].append(2)  # a copy: the original is unchanged
    assert post.settings["options"]["a"] == [1]
    np.testing.assert_array_equal(post.select([2, 0]).samples, post.samples[[2, 0]])
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        post.select([True, False])
    with pytest.raises(ShapeError, match="indices"):
        post.select([3])
    with pytest.raises(SymbnnError, match="boolean mask"):
        post.select([0.5])


# --- data tables ------------------------------------------------------------------------------
def test_standardizing_values_near_the_float_limit(tmp_path):
    from symbnn.datasets import load_table, split

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 8, 50)
    table = np.column_stack([x, np.sin(x) + 0.1 * rng.normal(size=50), np.full(50, 3.0)])
    small = split(table, target=1)
    for col in (0, 1):  # targets (used to become all zeros) and features (used to become NaN)
        big = table.copy()
        big[:, col] *= 1e307
        path = tmp_path / f"big{col}.data"
        np.savetxt(path, big, fmt="%.17g")
        d = load_table(path, target=1)
        for got, want in ((d.x_train, small.x_train), (d.y_test, small.y_test)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        std = np.concatenate([d.x_std, d.y_std])  # columns 0, 2, then the target 1
        assert np.isfinite(std).all() and std[2 * col] > 1e306
    # Ordinary data give exactly the textbook standardization.
    z = (table - table.mean(0)) / np.where(table.std(0) > 0, table.std(0), 1.0)
    np.testing.assert_array_equal(small.x_train, z[small.train_index][:, [0, 2]])


@pytest.mark.parametrize(
    ("train", "match"),
    [
        ([0, 1.5], "integer row numbers"),
        ([0, True], "integer row numbers"),
        ([0, "1"], "integer row numbers"),
        ([0, [1]], "integer row numbers"),
        ([0, 2**70], "outside 0..9"),
        ([], "non-empty"),
        ({"0": 1}, "must be lists"),
    ],
)
def test_bad_split_indices_are_refused(tmp_path, train, match):
    import json

    from symbnn import DataError
    from symbnn.datasets import load_table

    data = tmp_path / "t.data"
    np.savetxt(data, np.arange(20.0).reshape(10, 2))
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"t": {"train": train, "test": [9]}}))
    with pytest.raises(DataError, match=match):
        load_table(data, splits=splits)


# --- kernel options ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "match"),
    [
        ("target_accept=abc", "'target_accept' must be a finite number, got 'abc'"),
        ("target_accept=[1,2]", r"'target_accept' must be a finite number, got \[1, 2\]"),
        ("target_accept=true", "'target_accept' must be a finite number, got True"),
        ("max_tree_depth=2.5", "'max_tree_depth' must be an integer"),
        ("initial_step_size=NaN", "'initial_step_size' must be a finite number"),
    ],
)
def test_kernel_options_are_type_checked(tmp_path, capsys, option, match):
    import re

    from symbnn.cli import main

    argv = [
        "sample",
        "--dataset",
        "sinusoidal",
        "--chains",
        "2",
        "--warmup",
        "5",
        "--kernel",
        "nuts",
    ]
    assert main([*argv, "--no-progress", "--option", option, "-o", str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err) and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


def test_kernel_options_of_the_right_type_pass():
    from symbnn.sampling.kernels import KERNELS

    got = KERNELS["mclmc"].make_options({"desired_energy_var": 1})
    assert got.desired_energy_var == 1.0 and isinstance(got.desired_energy_var, float)
    with pytest.raises(SymbnnError, match="true or false"):
        KERNELS["mclmc"].make_options({"diagonal_preconditioning": 1})


# --- checkpoints ------------------------------------------------------------------------------
def test_numbered_layers_that_do_not_chain_are_refused(tmp_path, capsys):
    from symbnn import CheckpointError
    from symbnn.cli import main
    from symbnn.symmetry.checkpoint_layout import detect_layout

    arrays = {
        "params.Dense_0.kernel": np.ones((1, 3)),
        "params.Dense_0.bias": np.zeros(3),
        "params.Dense_1.kernel": np.ones((4, 1)),
        "params.Dense_1.bias": np.zeros(1),
    }
    with pytest.raises(CheckpointError, match="'params.Dense_0' has 3 outputs .* 4 inputs"):
        detect_layout(arrays)
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    assert main(["canonicalize", str(path), "--check"]) == 2
    assert "do not chain" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    # Unnumbered names say nothing about the order: the shapes decide.
    plain = {k.replace("Dense_0", "out").replace("Dense_1", "inp"): v for k, v in arrays.items()}
    assert detect_layout(plain).sizes == (4, 1, 3)


def test_canonicalize_takes_symbnn_posteriors(tmp_path, capsys):
    from symbnn import load_posterior
    from symbnn.cli import main
    from symbnn.symmetry.canonical import canonicalize

    post = _posterior()
    src = post.save(tmp_path / "posterior.npz")
    for extra in ([], ["--layout", "flat", "--sizes", "1,2,1", "--check"]):
        assert main(["canonicalize", str(src), *extra]) == 0, capsys.readouterr().err
        got = load_posterior(tmp_path / "posterior.canonical.npz")
        np.testing.assert_array_equal(got.samples, canonicalize(post.samples, post.spec))
        np.testing.assert_array_equal(got.noise_std, post.noise_std)
        assert got.spec == post.spec and got.settings == post.settings
    for bad in (["--layout", "torch"], ["--sizes", "1,3,1"], ["--activation", "relu"]):
        assert main(["canonicalize", str(src), "-o", str(tmp_path / "x.npz"), *bad]) == 2
        assert "contradicts the symbnn posterior" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_a_number_beyond_float64_is_named(tmp_path):
    from symbnn import DataError
    from symbnn.datasets import read_table

    path = tmp_path / "t.data"
    path.write_text("1 2\n3 -1e400\n")
    with pytest.raises(DataError, match="line 2, column 1: -1e400 overflows float64"):
        read_table(path)
    path.write_text("1 2\n3 inf\n")
    with pytest.raises(DataError, match="line 2: non-finite value"):
        read_table(path)
