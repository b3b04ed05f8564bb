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
from .symmetry import Transform as Transform
from .symmetry import canonicalize as canonicalize
from .symmetry import canonicalize_pytree as canonicalize_pytree
from .symmetry import cardinality as cardinality
from .symmetry import log_cardinality as log_cardinality

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
    "Transform",
    "UnsupportedError",
    "WeightsError",
    "__version__",
    "canonicalize",
    "canonicalize_pytree",
    "cardinality",
    "datasets",
    "load_table",
    "log_cardinality",
]
