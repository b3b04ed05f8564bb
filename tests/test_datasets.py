"""Data generators, the table loader and the split/standardization logic."""

import json

import numpy as np
import pytest

from symbnn import DataError, datasets, load_table


@pytest.mark.parametrize("gen", [datasets.sinusoidal, datasets.regression2d])
def test_generators_repeat_by_seed(gen):
    a, b, c = gen(seed=3), gen(seed=3), gen(seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


def test_sinusoidal_shape_and_standardization():
    d = datasets.sinusoidal()
    assert d.x_train.shape == (120, 1) and d.x_test.shape == (30, 1) and d.y_train.shape == (120, 1)
    allx = np.concatenate([d.x_train, d.x_test])
    assert abs(allx.mean()) < 1e-12 and abs(allx.std() - 1) < 1e-12  # all-data statistics
    raw = d.unstandardize_x(allx)
    assert raw.min() >= 0 and raw.max() <= 8  # x ~ U(0, 8)
    r2 = datasets.regression2d()
    assert r2.x_train.shape == (205, 2) and r2.x_test.shape == (51, 2)


def test_train_only_standardization():
    d = datasets.sinusoidal(standardize="train")
    assert abs(d.x_train.mean()) < 1e-12 and abs(d.y_train.std() - 1) < 1e-12
    assert abs(np.concatenate([d.x_train, d.x_test]).mean()) > 1e-6


def test_load_table_with_explicit_split(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 4))
    p = tmp_path / "toy.data"
    np.savetxt(p, data)
    sp = tmp_path / "splits.json"
    train, test = list(range(0, 40)), list(range(40, 50))
    sp.write_text(json.dumps({"toy": {"train": train, "test": test}}))
    d = load_table(p, splits=sp)
    z = (data - data.mean(0)) / data.std(0)
    np.testing.assert_allclose(d.x_test, z[40:, :3])
    np.testing.assert_allclose(d.y_train, z[:40, 3:])
    np.testing.assert_allclose(d.unstandardize_y(d.y_train), data[:40, 3:])
    # Comma-separated, another target column.
    q = tmp_path / "toy.csv"
    np.savetxt(q, data, delimiter=",")
    d2 = load_table(q, target=0, delimiter=",")
    assert d2.x_train.shape[1] == 3 and len(d2.x_train) == 40


@pytest.mark.parametrize(
    "text, match",
    [
        ("1 2 3\n4 5\n", "line 2: 2 columns"),
        ("1 2\n3 x\n", "line 2: non-numeric cell 'x'"),
        ("1 2\n\n3 nan\n", "line 3: non-finite"),
        ("", "empty file"),
        ("# only a comment\n", "empty file"),
    ],
)
def test_load_table_rejects_bad_files(tmp_path, text, match):
    p = tmp_path / "bad.data"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        load_table(p)


def test_split_rejects_bad_arguments():
    data = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(DataError, match="overlap"):
        datasets.split(data, train_index=[0, 1, 2], test_index=[2, 3])
    with pytest.raises(DataError, match="outside"):
        datasets.split(data, train_index=[0, 1], test_index=[10])
    with pytest.raises(DataError, match="target column"):
        datasets.split(data, target=5)
    with pytest.raises(DataError, match="non-finite"):
        datasets.split(np.array([[1.0, np.inf], [2.0, 3.0]]))
    with pytest.raises(DataError, match="missing.data"):
        datasets.load("missing.data")
