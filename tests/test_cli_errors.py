"""The command line's one rule: a user error or an I/O failure (missing, unreadable, read-only,
disk full) prints `symbnn CMD: error: ...` and exits 2, and leaves no partial output. Tests run
as root, where permissions do not stop a write, so a read-only location is a path below a
regular file or patched file creation, and a full disk is a patched `os.replace`."""

import errno
import json
import os
import tempfile

import numpy as np
import pytest

import symbnn
from symbnn import MLP, Posterior
from symbnn.cli import main

FAST = ["--chains", "2", "--warmup", "5"]


def _snapshot(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fails(capsys, command, *argv):
    """Runs one command that must fail cleanly; returns its message. The error is its last
    word (a run that failed writing may have warned about its sampling first)."""
    code = main([command, *map(str, argv)])
    err = capsys.readouterr().err
    last = err.rstrip("\n").split("\n")[-1]
    assert code == 2 and last.startswith(f"symbnn {command}: error: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture
def inputs(tmp_path):
    """A data table, a checkpoint and a posterior to read, in their own folder."""
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 8, 40)
    np.savetxt(src / "toy.data", np.column_stack([x, np.sin(x)]))
    spec = MLP(1, (2,))
    theta = rng.normal(size=(3, 1, spec.num_params))
    Posterior(spec, theta, np.ones((3, 1)), settings={"kernel": "nuts"}).save(src / "post.npz")
    arrays = {
        "params.Dense_0.kernel": rng.normal(size=(1, 2)),
        "params.Dense_0.bias": rng.normal(size=2),
        "params.Dense_1.kernel": rng.normal(size=(2, 1)),
        "params.Dense_1.bias": rng.normal(size=1),
    }
    np.savez(src / "net.npz", **arrays)
    split = {"train": list(range(32)), "test": list(range(32, 40))}
    (src / "splits.json").write_text(json.dumps({"sinusoidal": split}))
    np.savetxt(src / "sinusoidal.data", np.column_stack([x, np.sin(x)]))
    return src


def _writing_commands(inputs, out):
    """Every command that writes, with its output at `out` (a file or folder name)."""
    return [
        ("sample", ["--data", inputs / "toy.data", *FAST, "--no-progress", "-o", out / "p.npz"]),
        ("run", ["--data", inputs / "toy.data", *FAST, "--quiet", "--no-plots", "-o", out]),
        ("canonicalize", [inputs / "net.npz", "-o", out / "net.npz"]),
        ("canonicalize", [inputs / "post.npz", "-o", out / "post.npz"]),
        ("reproduce", ["--data-dir", inputs, "--datasets", "sinusoidal", "--rows", "ensemble",
                       "--budget", "smoke", "--epochs", "5", "--no-plots", "--quiet", "-o", out]),
    ]  # fmt: skip


def _no_work(monkeypatch, *, reproduce=True):
    """Fail the test if a command samples before finding its output unwritable."""
    import importlib

    def refuse(*args, **kwargs):
        raise AssertionError("sampled before checking the output")

    monkeypatch.setattr(symbnn, "sample", refuse)
    monkeypatch.setattr(importlib.import_module("symbnn.sampling.driver"), "sample", refuse)
    if reproduce:
        monkeypatch.setattr(importlib.import_module("symbnn.study.reproduce"), "reproduce", refuse)


def test_an_output_below_a_file_is_refused_before_any_work(tmp_path, inputs, capsys, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    _no_work(monkeypatch)
    before = _snapshot(tmp_path)
    for command, argv in _writing_commands(inputs, blocker / "out"):
        err = _fails(capsys, command, *argv)
        assert "Not a directory" in err, err
    assert _snapshot(tmp_path) == before


def test_a_read_only_location_is_refused_before_any_work(tmp_path, inputs, capsys, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    _no_work(monkeypatch)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    before = _snapshot(tmp_path)
    for command, argv in _writing_commands(inputs, tmp_path / "out"):
        err = _fails(capsys, command, *argv)
        assert "Read-only file system" in err, err
    assert _snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_full_disk_leaves_no_partial_output(tmp_path, inputs, capsys, monkeypatch):
    # An earlier run's folder: a failed run must leave it exactly as it was.
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    (out / "ppd.png").write_bytes(b"png")

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    before = _snapshot(tmp_path)
    for command, argv in _writing_commands(inputs, out):
        err = _fails(capsys, command, *argv)
        assert "No space left on device" in err, err
    # A new folder: nothing of it is left, not even empty folders.
    fresh = tmp_path / "fresh" / "run"
    run = ["--data", inputs / "toy.data", *FAST, "--quiet", "--no-plots", "-o", fresh]
    _fails(capsys, "run", *run)
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no temporaries


def test_a_safetensors_write_error_is_an_io_error(tmp_path, capsys, monkeypatch):
    import safetensors.numpy
    from safetensors import SafetensorError

    src = tmp_path / "net.safetensors"
    arrays = {"0.weight": np.ones((2, 1)), "0.bias": np.zeros(2)}
    arrays |= {"1.weight": np.ones((1, 2)), "1.bias": np.zeros(1)}
    safetensors.numpy.save_file(arrays, str(src))

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left (os error 28)")

    monkeypatch.setattr(safetensors.numpy, "save_file", full)
    err = _fails(capsys, "canonicalize", src)
    assert f"{tmp_path / 'net.canonical.safetensors'}: No space left on device" in err
    assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]


def test_run_replaces_an_earlier_run_as_a_whole(tmp_path, inputs, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    (out / "convergence.png").write_bytes(b"old")
    argv = ["run", "--data", inputs / "toy.data", *FAST, "--quiet", "--no-plots", "-o", out]
    assert main(list(map(str, argv))) == 0
    assert sorted(p.name for p in out.iterdir()) == ["posterior.npz", "report.json"]
    assert json.loads((out / "report.json").read_text())["bound"]["chains_used"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
    # A folder holding anything else is not a run's to replace.
    (out / "notes.txt").write_text("mine")
    err = _fails(capsys, *map(str, argv))
    assert "notes.txt" in err and (out / "notes.txt").read_text() == "mine"


def test_run_refuses_zero_chains(tmp_path, capsys, monkeypatch):
    _no_work(monkeypatch)
    err = _fails(capsys, "run", "--chains", "0", "--quiet", "-o", tmp_path / "out")
    assert "--chains must be at least 1, got 0" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("command", "argv", "match"),
    [
        ("modes", ["{tmp}/missing.npz"], "missing.npz: no such file"),
        ("modes", ["{tmp}"], "no .npz or .safetensors checkpoints"),
        ("canonicalize", ["{tmp}/missing.npz"], "missing.npz: no such file"),
        ("sample", ["--data", "{tmp}", "--no-progress", "-o", "{tmp}/o"], "Is a directory"),
        ("run", ["--data", "{tmp}/missing.data", "-o", "{tmp}/o"], "missing.data: no such file"),
        ("sample", ["--data", "{tmp}/toy.data", "--splits", "{tmp}"], "cannot read (Is a dir"),
        ("reproduce", ["--data-dir", "{tmp}/missing", "-o", "{tmp}/o"], "does not exist"),
        ("chains", ["--weights", "a,b"], "not a number"),
    ],
)
def test_missing_and_unreadable_inputs(tmp_path, capsys, monkeypatch, command, argv, match):
    _no_work(monkeypatch, reproduce=False)
    (tmp_path / "toy.data").write_text("1 2\n3 4\n5 6\n")
    err = _fails(capsys, command, *[a.format(tmp=tmp_path) for a in argv])
    assert match in err and err.count(str(tmp_path)) <= 1, err
    assert not (tmp_path / "o").exists()


def test_messages_name_the_file_once(tmp_path, capsys):
    empty = tmp_path / "empty.npz"
    empty.touch()
    for command in ("canonicalize", "modes"):
        err = _fails(capsys, command, empty)
        assert err.count("empty.npz") == 1, err
    folder = tmp_path / "ens"
    folder.mkdir()
    np.savez(folder / "a.npz", **{"0.weight": np.ones((2, 1)), "0.bias": np.zeros(2)})
    (folder / "b.npz").write_bytes(b"PK")
    err = _fails(capsys, "modes", folder)
    assert f"{folder / 'b.npz'}: " in err, err


def test_confidences_are_printed_unrounded(capsys):
    assert main(["chains", "--modes", "3", "--confidence", "0.999999999999"]) == 0
    assert "confidence  0.999999999999\n" in capsys.readouterr().out


def test_every_option_has_help():
    import argparse

    from symbnn.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.option_strings or action.dest)
            shown = action.default in (None, False, [], argparse.SUPPRESS) or "-h" in (
                action.option_strings
            )
            assert shown or "default" in action.help, (name, action.option_strings)
