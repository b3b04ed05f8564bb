//! The progress counter of running programs (`crate::progress`), for `symbnn.sampling.progress`.

use pyo3::prelude::*;

use crate::progress;

/// Address of the XLA FFI handler that running programs tick (register it with
/// `jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(address), platform="cpu")`).
#[pyfunction]
fn tick_handler_address() -> usize {
    progress::xla_tick as *const () as usize
}

/// Address of the XLA FFI handler that kernels report their steps to (`int32` counts).
#[pyfunction]
fn advance_handler_address() -> usize {
    progress::xla_advance as *const () as usize
}

/// Chain-steps reported since the last `reset_ticks()`.
#[pyfunction]
fn steps() -> u64 {
    progress::steps()
}

/// Ticks since the last `reset_ticks()`.
#[pyfunction]
fn ticks() -> u64 {
    progress::ticks()
}

/// Zero the tick and step counters and withdraw a stop request.
#[pyfunction]
fn reset_ticks() {
    progress::reset()
}

/// Make the running program end with a CANCELLED error at its next tick.
#[pyfunction]
fn request_stop() {
    progress::request_stop()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tick_handler_address, m)?)?;
    m.add_function(wrap_pyfunction!(advance_handler_address, m)?)?;
    m.add_function(wrap_pyfunction!(ticks, m)?)?;
    m.add_function(wrap_pyfunction!(steps, m)?)?;
    m.add_function(wrap_pyfunction!(reset_ticks, m)?)?;
    m.add_function(wrap_pyfunction!(request_stop, m)?)?;
    Ok(())
}
