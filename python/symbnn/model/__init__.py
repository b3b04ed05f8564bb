"""The Bayesian MLP (`mlp`): its flat parameter layout (`layout`), its activation table
(`activations`), its prior, likelihood and log density, with the gradient batched over
chains by the network's shape (`_chains_last`)."""

from .activations import ACTIVATIONS as ACTIVATIONS
from .activations import LEAKY_RELU_SLOPE as LEAKY_RELU_SLOPE
from .mlp import LIKELIHOODS as LIKELIHOODS
from .mlp import MLP as MLP
from .mlp import SYMMETRIES as SYMMETRIES
from .mlp import Symmetries as Symmetries
