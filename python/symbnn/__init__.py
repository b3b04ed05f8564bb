"""symbnn: MCMC for Bayesian neural networks, made affordable by their posterior's symmetries.

The public API; everything else is private. See README.md for a tour.
"""

from . import datasets as datasets
from ._core import __version__ as __version__
from .datasets import Dataset as Dataset
from .datasets import load_table as load_table
from .errors import CheckpointError as CheckpointError
from .errors import DataError as DataError
from .errors import NonFiniteError as NonFiniteError
from .errors import ShapeError as ShapeError
from .errors import SymbnnError as SymbnnError
from .errors import UnsupportedError as UnsupportedError
from .errors import WeightsError as WeightsError
from .model import ACTIVATIONS as ACTIVATIONS
from .model import MLP as MLP
from .model import SYMMETRIES as SYMMETRIES
from .model import Symmetries as Symmetries
from .posterior import Posterior as Posterior
from .posterior import load_posterior as load_posterior
from .sampling import sample as sample

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "SYMMETRIES",
    "CheckpointError",
    "DataError",
    "Dataset",
    "NonFiniteError",
    "Posterior",
    "ShapeError",
    "SymbnnError",
    "Symmetries",
    "UnsupportedError",
    "WeightsError",
    "__version__",
    "datasets",
    "load_posterior",
    "load_table",
    "sample",
]
