# Stubs for the Rust extension, written by hand; checked by `python -m mypy.stubtest symbnn._core`.
# Each section belongs to one Rust bindings module (rust/python/*.rs).

import numpy as np
import numpy.typing as npt

# --- rust/python/mod.rs --------------------------------------------------------------------
__version__: str

class SymbnnError(ValueError): ...
class ShapeError(SymbnnError): ...
class NonFiniteError(SymbnnError): ...
class WeightsError(SymbnnError): ...
class UnsupportedError(SymbnnError): ...

def activation_symmetries() -> dict[str, dict[str, bool]]: ...
def num_params(sizes: list[int], activation: str) -> int: ...

# --- rust/python/canonical.rs --------------------------------------------------------------

def canonicalize(
    theta: npt.NDArray[np.floating],
    sizes: list[int],
    activation: str,
    symmetries: list[str] | None = None,
    return_transform: bool = False,
) -> (
    npt.NDArray[np.floating]
    | tuple[
        npt.NDArray[np.floating],
        npt.NDArray[np.int64],
        npt.NDArray[np.int8],
        npt.NDArray[np.floating],
    ]
): ...
def canonicalize_in_place(
    theta: npt.NDArray[np.floating],
    sizes: list[int],
    activation: str,
    symmetries: list[str] | None = None,
    return_transform: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.floating]] | None: ...
def apply_transform(
    theta: npt.NDArray[np.floating],
    sizes: list[int],
    activation: str,
    perm: npt.NDArray[np.int64],
    sign: npt.NDArray[np.int8],
    scale: npt.NDArray[np.floating],
    inverse: bool = False,
) -> npt.NDArray[np.floating]: ...

# --- rust/python/bound.rs ------------------------------------------------------------------

MAX_EXACT_MODES: int
MAX_INCLUSION_EXCLUSION_MODES: int

def expected_chains(
    weights: npt.NDArray[np.float64], normalize: bool = False, method: str = "integral"
) -> float: ...
def chains_needed(
    weights: npt.NDArray[np.float64],
    confidence: float = 0.99,
    method: str | None = None,
    normalize: bool = False,
) -> int: ...
def coverage_probability(
    weights: npt.NDArray[np.float64],
    chains: int,
    normalize: bool = False,
    complement: bool = False,
) -> float: ...
def halfnormal_weights(nu: int) -> npt.NDArray[np.float64]: ...
def recommended_method(nu: int) -> str: ...

# --- rust/python/removal.rs (symmetry removal and mode deduplication) ----------------------

AUTO_TOLERANCE_GAP: float
AUTO_TOLERANCE_TAIL: float

def remove_symmetries(
    theta: npt.NDArray[np.float64],
    sizes: list[int],
    activation: str,
    *,
    method: str = "assignment",
    iterations: int = 50,
    restarts: int = 4,
    max_sweeps: int = 10,
    seed: int = 0,
    study_k: int = 1024,
    study_sigma: float = 1.0,
    study_iterations: int = 256,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], int, int, bool
]: ...
def align_to_references(
    theta: npt.NDArray[np.float64],
    references: npt.NDArray[np.float64],
    sizes: list[int],
    activation: str,
    *,
    max_sweeps: int = 10,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def removal_quality(
    theta: npt.NDArray[np.float64], sizes: list[int], activation: str
) -> npt.NDArray[np.float64]: ...
def cluster_modes(
    x: npt.NDArray[np.float64], *, tol: float | None = None, min_size: int = 2
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], int, int, float
]: ...
def auto_tolerance(x: npt.NDArray[np.float64]) -> float: ...

# --- progress of running programs (XLA FFI tick) ---------------------------------------------
def tick_handler_address() -> int: ...
def advance_handler_address() -> int: ...
def ticks() -> int: ...
def steps() -> int: ...
def reset_ticks() -> None: ...
def request_stop() -> None: ...
