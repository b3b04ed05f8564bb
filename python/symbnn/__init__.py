"""symbnn: MCMC for Bayesian neural networks, made affordable by their posterior's symmetries.

The public API; everything else is private. See README.md for a tour.
"""

from . import chains as chains
from . import datasets as datasets
from ._core import __version__ as __version__
from .chains import chains_needed as chains_needed
from .chains import coverage_probability as coverage_probability
from .chains import expected_chains as expected_chains
from .chains import halfnormal_weights as halfnormal_weights
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

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "SYMMETRIES",
    "CheckpointError",
    "DataError",
    "Dataset",
    "NonFiniteError",
    "ShapeError",
    "SymbnnError",
    "Symmetries",
    "UnsupportedError",
    "WeightsError",
    "__version__",
    "chains",
    "chains_needed",
    "coverage_probability",
    "datasets",
    "expected_chains",
    "halfnormal_weights",
    "load_table",
]
