//! Bindings for [`crate::bound`]: the expected number of chains, chain counts and the coverage
//! probability. Weights are copied once under the GIL; validation and the sums run without it.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::bound::{self, Method, ModeWeights};
use crate::error::Error;

/// `E[G]` by `method`: "integral" (any number of modes) or "inclusion_exclusion" (up to 24).
#[pyfunction]
#[pyo3(signature = (weights, normalize = false, method = "integral"))]
fn expected_chains(
    py: Python<'_>,
    weights: PyReadonlyArray1<'_, f64>,
    normalize: bool,
    method: &str,
) -> PyResult<f64> {
    let w = weights.as_array().to_vec();
    let method = method.to_owned();
    Ok(py.detach(move || {
        let w = ModeWeights::new(&w, normalize)?;
        match method.as_str() {
            "integral" => bound::expected_chains(&w),
            "inclusion_exclusion" => bound::expected_chains_inclusion_exclusion(&w),
            other => Err(Error::Unsupported(format!(
                "unknown method {other:?} for expected_chains: use \"integral\" or \
                 \"inclusion_exclusion\""
            ))),
        }
    })?)
}

/// Chains that visit every mode with probability `confidence`; `method` None is the tightest
/// rigorous one for the number of modes.
#[pyfunction]
#[pyo3(signature = (weights, confidence = 0.99, method = None, normalize = false))]
fn chains_needed(
    py: Python<'_>,
    weights: PyReadonlyArray1<'_, f64>,
    confidence: f64,
    method: Option<&str>,
    normalize: bool,
) -> PyResult<u64> {
    let w = weights.as_array().to_vec();
    let method = method.map(str::parse::<Method>).transpose()?;
    Ok(py.detach(move || {
        let w = ModeWeights::new(&w, normalize)?;
        let method = method.unwrap_or_else(|| Method::recommended(w.len()));
        bound::chains_needed(&w, confidence, method)
    })?)
}

/// `P(G ≤ chains)`, or `P(G > chains)` with `complement` (relative accuracy in the tail).
#[pyfunction]
#[pyo3(signature = (weights, chains, normalize = false, complement = false))]
fn coverage_probability(
    py: Python<'_>,
    weights: PyReadonlyArray1<'_, f64>,
    chains: u64,
    normalize: bool,
    complement: bool,
) -> PyResult<f64> {
    let w = weights.as_array().to_vec();
    Ok(py.detach(move || {
        let w = ModeWeights::new(&w, normalize)?;
        if complement {
            bound::miss_probability(&w, chains)
        } else {
            bound::coverage_probability(&w, chains)
        }
    })?)
}

/// The study's default weights for `nu` modes.
#[pyfunction]
fn halfnormal_weights(py: Python<'_>, nu: usize) -> PyResult<Bound<'_, PyArray1<f64>>> {
    Ok(bound::halfnormal_weights(nu)?.into_pyarray(py))
}

/// The method `chains_needed` uses by default for `nu` modes.
#[pyfunction]
fn recommended_method(nu: usize) -> &'static str {
    Method::recommended(nu).name()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_EXACT_MODES", bound::MAX_EXACT_MODES)?;
    m.add(
        "MAX_INCLUSION_EXCLUSION_MODES",
        bound::MAX_INCLUSION_EXCLUSION_MODES,
    )?;
    m.add_function(wrap_pyfunction!(expected_chains, m)?)?;
    m.add_function(wrap_pyfunction!(chains_needed, m)?)?;
    m.add_function(wrap_pyfunction!(coverage_probability, m)?)?;
    m.add_function(wrap_pyfunction!(halfnormal_weights, m)?)?;
    m.add_function(wrap_pyfunction!(recommended_method, m)?)?;
    Ok(())
}
