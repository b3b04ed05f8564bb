"""The figures are written as real, non-empty PNGs, atomically, for every kind of run."""

import sys

import numpy as np
import pytest
from _posteriors import random_posterior

import symbnn
from symbnn import ShapeError, UnsupportedError
from symbnn.study.plot import (
    default_params,
    param_name,
    plot_canonicalization,
    plot_convergence,
    plot_ppd,
    plot_removal,
    save_figure,
    write_run_plots,
)

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path, min_bytes=5000):
    data = path.read_bytes()
    return data[:8] == PNG and len(data) > min_bytes


def _only(directory, names):
    """No temporary files left beside the figures."""
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)


@pytest.fixture(scope="module")
def sinusoidal():
    return symbnn.datasets.sinusoidal(n=40, seed=1)


def test_run_plots_one_input(tmp_path, sinusoidal):
    post = random_posterior(seed=1, chains=6, draws=2)
    curve = symbnn.functional_convergence(post, np.linspace(-3, 3, 16), np.linspace(-3, 3, 16))
    canonical = np.abs(post.samples)  # any array of the samples' shape
    paths = write_run_plots(
        post,
        sinusoidal,
        tmp_path / "out",
        convergence=curve,
        canonical=canonical,
        bound=54,
        labels=np.arange(12) % 2,
    )
    assert [p.name for p in paths] == ["ppd.png", "convergence.png", "canonicalization.png"]
    assert all(_is_png(p) for p in paths)
    _only(tmp_path / "out", ["ppd.png", "convergence.png", "canonicalization.png"])


def test_run_plots_several_inputs(tmp_path):
    data = symbnn.datasets.regression2d(n=40)
    post = random_posterior(seed=2, chains=3, draws=2, in_features=2)
    paths = write_run_plots(post, data, tmp_path, canonical=post.samples.reshape(6, -1))
    assert [p.name for p in paths] == ["predictions.png", "canonicalization.png"]
    assert all(_is_png(p) for p in paths)


def test_run_plots_classification(tmp_path):
    rng = np.random.default_rng(3)
    data = type(
        "Data", (), {"x_test": rng.normal(size=(30, 2)), "y_test": rng.integers(0, 3, 30)}
    )()
    post = random_posterior(
        seed=3, chains=2, draws=2, in_features=2, out=3, likelihood="categorical"
    )
    (path,) = write_run_plots(post, data, tmp_path)
    assert path.name == "reliability.png" and _is_png(path)


def test_ppd_plot_without_dataset_statistics(tmp_path, sinusoidal):
    data = type(
        "Arrays",
        (),
        {k: getattr(sinusoidal, k) for k in ("x_train", "y_train", "x_test", "y_test")},
    )()
    fig = plot_ppd(random_posterior(seed=4), data, levels=(0.5, 0.8, 0.95))
    assert "standardized" in fig.axes[0].get_xlabel()
    assert _is_png(save_figure(fig, tmp_path / "a" / "ppd.png"))


def test_convergence_plot_edge_cases(tmp_path):
    empty = symbnn.FunctionalConvergence(np.arange(2, 2), np.zeros(0))
    assert _is_png(save_figure(plot_convergence(empty), tmp_path / "empty.png"), 1000)
    zeros = symbnn.FunctionalConvergence(np.arange(2, 5), np.array([0.1, 0.0, 1e-3]))
    assert _is_png(save_figure(plot_convergence(zeros, bound=1274), tmp_path / "z.png"))


def test_save_figure_is_atomic_on_failure(tmp_path):
    class Broken:
        def savefig(self, fh, format):
            fh.write(b"half")
            raise RuntimeError("disk full")

    (tmp_path / "ppd.png").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        save_figure(Broken(), tmp_path / "ppd.png")
    assert (tmp_path / "ppd.png").read_bytes() == b"old"
    _only(tmp_path, ["ppd.png"])


def test_param_names():
    spec = symbnn.MLP(2, (3,), 1)
    names = [param_name(spec, i) for i in range(spec.position_size)]
    assert names[:7] == [
        "w1[0,0]",
        "w1[0,1]",
        "w1[0,2]",
        "w1[1,0]",
        "w1[1,1]",
        "w1[1,2]",
        "b1[0]",
    ]
    assert names[9:] == ["w2[0,0]", "w2[1,0]", "w2[2,0]", "b2[0]", "log σ"]
    assert [names[i] for i in default_params(spec)] == ["w1[0,0]", "w2[0,0]"]
    with pytest.raises(ShapeError):
        param_name(spec, 14)


def test_bad_input(tmp_path, sinusoidal):
    post = random_posterior(seed=5)
    with pytest.raises(ShapeError, match="do not match"):
        write_run_plots(post, sinusoidal, tmp_path, canonical=np.zeros((3, 10)))
    with pytest.raises(ShapeError, match=r"\(N, 2\)"):
        plot_canonicalization(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ShapeError, match="differ"):
        plot_canonicalization(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(UnsupportedError):
        plot_ppd(random_posterior(in_features=2), sinusoidal)
    _only(tmp_path, [])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"symbnn\[plot\]"):
        plot_convergence(symbnn.FunctionalConvergence(np.arange(2, 4), np.ones(2)))


def test_plot_removal_panels_and_bad_input():
    spec = symbnn.MLP(1, (3,), 1)
    theta = np.random.default_rng(0).normal(size=(40, spec.num_params))
    removal = symbnn.remove_symmetries(theta, spec)
    fig = plot_removal(theta, removal, spec)
    assert len(fig.axes) == 12  # 2 rows x (2 panels per neuron x 3 neurons)
    assert "quality" in fig._suptitle.get_text()
    with pytest.raises(symbnn.ShapeError):
        plot_removal(theta[:10], removal, spec)
    linear = symbnn.MLP(2, (), 1, activation="identity")
    lin = np.zeros((5, linear.num_params))
    lin_removal = symbnn.remove_symmetries(lin, linear)
    with pytest.raises(symbnn.UnsupportedError, match="hidden layer"):
        plot_removal(lin, lin_removal, linear)
