"""The Bayesian MLP: its flat parameter layout, its activation table, its prior and likelihood,
and its log density (with the chains-last gradient for narrow networks)."""

from .mlp import ACTIVATIONS as ACTIVATIONS
from .mlp import LEAKY_RELU_SLOPE as LEAKY_RELU_SLOPE
from .mlp import LIKELIHOODS as LIKELIHOODS
from .mlp import MLP as MLP
from .mlp import SYMMETRIES as SYMMETRIES
from .mlp import Symmetries as Symmetries
