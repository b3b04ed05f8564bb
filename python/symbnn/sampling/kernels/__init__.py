"""The sampling kernels behind one interface (`base.Kernel`), by name.

One module per kernel; `base` holds the interface and the pieces several kernels share. The
registry `KERNELS` is what `sampling.sample` dispatches on, and its names are the CLI's
`--kernel` values. `nuts` is the autobatched engine (`nuts_engine`: chains never wait for
each other's trees); `nuts_vmap` stays as the plain lock-stepped reference.
"""

from ..nuts_engine import NUTSInfo as NUTSInfo
from ..nuts_engine import NUTSOptions as NUTSOptions
from .adjusted_mclmc import AdjustedMCLMC as AdjustedMCLMC
from .adjusted_mclmc import AdjustedMCLMCInfo as AdjustedMCLMCInfo
from .adjusted_mclmc import AdjustedMCLMCOptions as AdjustedMCLMCOptions
from .base import Kernel as Kernel
from .base import WindowInfo as WindowInfo
from .base import options_dict as options_dict
from .chees import ChEES as ChEES
from .chees import ChEESOptions as ChEESOptions
from .hmc import HMC as HMC
from .hmc import HMCInfo as HMCInfo
from .hmc import HMCOptions as HMCOptions
from .mclmc import MCLMC as MCLMC
from .mclmc import MCLMCInfo as MCLMCInfo
from .mclmc import MCLMCOptions as MCLMCOptions
from .nuts import NUTS as NUTS
from .nuts_vmap import NUTSVmap as NUTSVmap

#: Kernel name -> kernel.
KERNELS: dict[str, Kernel] = {
    k.name: k for k in (NUTS(), NUTSVmap(), HMC(), ChEES(), MCLMC(), AdjustedMCLMC())
}
