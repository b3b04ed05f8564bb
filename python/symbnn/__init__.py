"""symbnn: MCMC for Bayesian neural networks, made affordable by their posterior's symmetries.

The public API; everything else is private. See README.md for a tour. `symbnn.BNNRegressor` and
`symbnn.BNNClassifier` (scikit-learn estimators, `symbnn.interop.sklearn`) load on first use.
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
from .predictive import LPPD as LPPD
from .predictive import FunctionalConvergence as FunctionalConvergence
from .predictive import Predictive as Predictive
from .predictive import accuracy as accuracy
from .predictive import coverage as coverage
from .predictive import crps as crps
from .predictive import ece as ece
from .predictive import evaluate as evaluate
from .predictive import function_space_ess as function_space_ess
from .predictive import function_space_rhat as function_space_rhat
from .predictive import functional_convergence as functional_convergence
from .predictive import lppd as lppd
from .predictive import nll as nll
from .predictive import ppd_grid as ppd_grid
from .predictive import predict as predict
from .predictive import predictive_quantiles as predictive_quantiles
from .predictive import rmse as rmse
from .sampling import Convergence as Convergence
from .sampling import ConvergenceWarning as ConvergenceWarning
from .sampling import Posterior as Posterior
from .sampling import enable_compilation_cache as enable_compilation_cache
from .sampling import load_posterior as load_posterior
from .sampling import sample as sample
from .study import deep_ensemble as deep_ensemble
from .study import laplace as laplace
from .study import summary_table as summary_table
from .study import write_report as write_report
from .symmetry import ChainRecommendation as ChainRecommendation
from .symmetry import Modes as Modes
from .symmetry import Removal as Removal
from .symmetry import Transform as Transform
from .symmetry import canonicalize as canonicalize
from .symmetry import canonicalize_pytree as canonicalize_pytree
from .symmetry import cardinality as cardinality
from .symmetry import find_modes as find_modes
from .symmetry import log_cardinality as log_cardinality
from .symmetry import recommend_chains as recommend_chains
from .symmetry import removal_quality as removal_quality
from .symmetry import remove_symmetries as remove_symmetries


def __getattr__(name: str):
    # The scikit-learn estimators need an optional extra: import them on first use only.
    if name in ("BNNClassifier", "BNNRegressor"):
        from .interop import sklearn as estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'symbnn' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "ChainRecommendation",
    "CheckpointError",
    "Convergence",
    "ConvergenceWarning",
    "DataError",
    "Dataset",
    "FunctionalConvergence",
    "LPPD",
    "MLP",
    "Modes",
    "NonFiniteError",
    "Posterior",
    "Predictive",
    "Removal",
    "SYMMETRIES",
    "ShapeError",
    "SymbnnError",
    "Symmetries",
    "Transform",
    "UnsupportedError",
    "WeightsError",
    "__version__",
    "accuracy",
    "canonicalize",
    "canonicalize_pytree",
    "cardinality",
    "chains",
    "chains_needed",
    "coverage",
    "coverage_probability",
    "crps",
    "datasets",
    "deep_ensemble",
    "ece",
    "enable_compilation_cache",
    "evaluate",
    "expected_chains",
    "find_modes",
    "function_space_ess",
    "function_space_rhat",
    "functional_convergence",
    "halfnormal_weights",
    "laplace",
    "load_posterior",
    "load_table",
    "log_cardinality",
    "lppd",
    "nll",
    "ppd_grid",
    "predict",
    "predictive_quantiles",
    "recommend_chains",
    "removal_quality",
    "remove_symmetries",
    "rmse",
    "sample",
    "summary_table",
    "write_report",
]
