"""`symbnn chains`: the table, the JSON output and errors, through the CLI entry point."""

import json

import pytest

from symbnn.cli import main


def run(capsys, *argv):
    code = main(["chains", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_for_the_study(capsys):
    code, out, _ = run(capsys, "--modes", "3")
    assert code == 0
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["E[G]"][1] == "12.7309"
    assert lines["markov"][1] == "1274"
    assert lines["union"][1] == "54"
    assert lines["exact"][1] == "54" and "default" in " ".join(lines["exact"])


def test_json(capsys):
    code, out, _ = run(capsys, "--modes", "12", "--confidence", "0.99", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["modes"] == 12 and data["weights_source"] == "halfnormal"
    assert data["chains"] == {"exact": 233, "union": 234, "markov": 7423}
    assert data["method"] == "exact" and data["chains_needed"] == 233
    assert data["expected_chains"] == pytest.approx(74.222, abs=1e-3)
    assert sum(data["weights"]) == pytest.approx(1.0)


def test_given_weights_and_method(capsys):
    code, out, _ = run(capsys, "--weights", "5,3,2", "--normalize", "--method", "union", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["chains"] == {"union": data["chains_needed"]} and data["method"] == "union"
    assert data["weights"] == pytest.approx([0.5, 0.3, 0.2])
    code, out, _ = run(capsys, "--weights", "0.5,0.3,0.2", "--method", "markov")
    assert code == 0 and "markov" in out and "exact" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weights", "0.5,0.3,0.1"], "sum to 0.9"),
        (["--weights", "0.5,x"], "value 1 ('x') is not a number"),
        (["--weights", "0.5,-0.5,1"], "negative"),
        (["--modes", "3", "--confidence", "1.5"], "confidence"),
        (["--modes", "4", "--weights", "0.5,0.5"], "does not match"),
        ([], "--modes"),
        (["--modes", "0"], "at least 1"),
    ],
)
def test_errors(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.startswith("symbnn chains: error:")
