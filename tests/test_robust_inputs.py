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
