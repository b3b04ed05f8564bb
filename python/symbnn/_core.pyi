# Stubs for the Rust extension, written by hand; checked by `python -m mypy.stubtest symbnn._core`.
# Each section belongs to one Rust bindings module (rust/python/*.rs).

# --- rust/python/mod.rs --------------------------------------------------------------------
__version__: str

class SymbnnError(ValueError): ...
class ShapeError(SymbnnError): ...
class NonFiniteError(SymbnnError): ...
class WeightsError(SymbnnError): ...
class UnsupportedError(SymbnnError): ...

def activation_symmetries() -> dict[str, dict[str, bool]]: ...
def num_params(sizes: list[int], activation: str) -> int: ...

# --- rust/python/removal.rs (symmetry removal and mode deduplication) ----------------------
import numpy as np  # noqa: E402 (each section of this file brings its own imports)
import numpy.typing as npt  # noqa: E402

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
