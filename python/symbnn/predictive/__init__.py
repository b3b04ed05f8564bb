"""The posterior predictive: network outputs of every draw (`predict`), the metrics on them
(`metrics`: LPPD, RMSE, CRPS, coverage, calibration) and the diagnostics across chains
(`diagnostics`: split R-hat and ESS, in parameter and function space)."""

from .diagnostics import function_space_ess as function_space_ess
from .diagnostics import function_space_rhat as function_space_rhat
from .metrics import LPPD as LPPD
from .metrics import accuracy as accuracy
from .metrics import coverage as coverage
from .metrics import crps as crps
from .metrics import ece as ece
from .metrics import evaluate as evaluate
from .metrics import lppd as lppd
from .metrics import nll as nll
from .metrics import predictive_quantiles as predictive_quantiles
from .metrics import rmse as rmse
from .ppd import FunctionalConvergence as FunctionalConvergence
from .ppd import Predictive as Predictive
from .ppd import functional_convergence as functional_convergence
from .ppd import ppd_grid as ppd_grid
from .ppd import predict as predict
