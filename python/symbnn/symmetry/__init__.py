"""The posterior's symmetries: canonicalization to a symmetry-free reference set (`canonical`),
removal that respects the geometry across samples (`removal`), functionally distinct modes
(`modes`), and the checkpoints they read and write (`checkpoints`)."""

from .canonical import Transform as Transform
from .canonical import canonicalize as canonicalize
from .canonical import canonicalize_pytree as canonicalize_pytree
from .canonical import cardinality as cardinality
from .canonical import log_cardinality as log_cardinality
from .modes import ChainRecommendation as ChainRecommendation
from .modes import Modes as Modes
from .modes import find_modes as find_modes
from .modes import recommend_chains as recommend_chains
from .removal import Removal as Removal
from .removal import removal_quality as removal_quality
from .removal import remove_symmetries as remove_symmetries
