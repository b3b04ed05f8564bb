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
from .modes import ChainRecommendation as ChainRecommendation
from .modes import Modes as Modes
from .modes import find_modes as find_modes
from .modes import recommend_chains as recommend_chains
from .removal import Removal as Removal
from .removal import removal_quality as removal_quality
from .removal import remove_symmetries as remove_symmetries

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "SYMMETRIES",
    "ChainRecommendation",
    "CheckpointError",
    "DataError",
    "Dataset",
    "Modes",
    "NonFiniteError",
    "Removal",
    "ShapeError",
    "SymbnnError",
    "Symmetries",
    "UnsupportedError",
    "WeightsError",
    "__version__",
    "datasets",
    "find_modes",
    "load_table",
    "recommend_chains",
    "removal_quality",
    "remove_symmetries",
]
