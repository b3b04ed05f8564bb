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

# --- rust/python/canonical.rs --------------------------------------------------------------
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

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
