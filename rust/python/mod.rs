//! The only PyO3 code: array conversion, GIL release around the heavy calls, and the one mapping
//! from `crate::Error` onto Python exceptions. Each submodule wraps one core module.

mod bound;
mod canonical;
mod progress;
mod removal;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::Error;
use crate::model::{Activation, MlpSpec};

create_exception!(
    _core,
    SymbnnError,
    PyValueError,
    "Base class of every symbnn error (a ValueError)."
);
create_exception!(
    _core,
    ShapeError,
    SymbnnError,
    "An array whose shape does not fit the network or the other arguments."
);
create_exception!(
    _core,
    NonFiniteError,
    SymbnnError,
    "A NaN or infinity where finite numbers are required."
);
create_exception!(
    _core,
    WeightsError,
    SymbnnError,
    "Mode weights that are not a valid probability distribution."
);
create_exception!(
    _core,
    UnsupportedError,
    SymbnnError,
    "A symmetry, method or size that is not supported."
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.to_string();
        match e {
            Error::Shape(_) => ShapeError::new_err(msg),
            Error::NonFinite { .. } => NonFiniteError::new_err(msg),
            Error::Weights(_) => WeightsError::new_err(msg),
            Error::Unsupported(_) => UnsupportedError::new_err(msg),
            Error::Value(_) => SymbnnError::new_err(msg),
        }
    }
}

/// Build a core spec from Python arguments (layer sizes and an activation name).
pub(crate) fn make_spec(sizes: Vec<usize>, activation: &str) -> PyResult<MlpSpec> {
    Ok(MlpSpec::new(sizes, Activation::parse(activation)?)?)
}

/// `{activation: {"permutation": bool, "sign_flip": bool, ...}}`: the one symmetry table.
#[pyfunction]
fn activation_symmetries(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for a in Activation::ALL {
        let s = a.symmetries();
        let d = PyDict::new(py);
        d.set_item("permutation", s.permutation)?;
        d.set_item("sign_flip", s.sign_flip)?;
        d.set_item("positive_scaling", s.positive_scaling)?;
        d.set_item("sigmoid_flip", s.sigmoid_flip)?;
        out.set_item(a.name(), d)?;
    }
    Ok(out)
}

/// Number of parameters of an MLP with these layer sizes (checks the spec on the way).
#[pyfunction]
fn num_params(sizes: Vec<usize>, activation: &str) -> PyResult<usize> {
    Ok(make_spec(sizes, activation)?.num_params())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SymbnnError", py.get_type::<SymbnnError>())?;
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add("NonFiniteError", py.get_type::<NonFiniteError>())?;
    m.add("WeightsError", py.get_type::<WeightsError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add_function(wrap_pyfunction!(activation_symmetries, m)?)?;
    m.add_function(wrap_pyfunction!(num_params, m)?)?;
    // Submodules register here, one line each.
    canonical::register(m)?;
    bound::register(m)?;
    removal::register(m)?;
    progress::register(m)?;
    Ok(())
}
