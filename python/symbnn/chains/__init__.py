"""How many chains: the study's bound on the chains needed to visit every functionally distinct
mode (`bound`, over the Rust core's exact and integral forms), and rounds of chains until the
modes found so far are covered (`rounds`, `sample(num_chains="auto")`)."""

from .bound import MAX_EXACT_MODES as MAX_EXACT_MODES
from .bound import MAX_INCLUSION_EXCLUSION_MODES as MAX_INCLUSION_EXCLUSION_MODES
from .bound import chains_needed as chains_needed
from .bound import coverage_probability as coverage_probability
from .bound import expected_chains as expected_chains
from .bound import halfnormal_weights as halfnormal_weights
from .bound import recommended_method as recommended_method
