"""Sampling: `sample` (the driver: one jitted program per chunk of chains, over one or several
devices), the kernels behind one interface (`kernels`), the NUTS engine (`nuts_engine`), the
optimised starts (`starts`), the run's result (`posterior`), its convergence verdict
(`convergence`) and JAX's persistent compilation cache (`compilation_cache`)."""

from .compilation_cache import enable_compilation_cache as enable_compilation_cache
from .convergence import Convergence as Convergence
from .convergence import ConvergenceWarning as ConvergenceWarning
from .driver import DEFAULT_KERNEL as DEFAULT_KERNEL
from .driver import sample as sample
from .kernels import KERNELS as KERNELS
from .kernels import Kernel as Kernel
from .posterior import Posterior as Posterior
from .posterior import load_posterior as load_posterior
