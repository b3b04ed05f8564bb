//! Bindings for `removal` (symmetry removal across a batch) and `modes` (mode deduplication):
//! zero-copy arrays in, the GIL released for the work, results moved into numpy.

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use super::make_spec;
use crate::error::Error;
use crate::modes;
use crate::removal::{self, Method, RemovalOptions, StudyOptions};

fn rows<'a>(a: &'a PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<(&'a [f64], usize, usize)> {
    let [n, d] = [a.shape()[0], a.shape()[1]];
    let s = a.as_slice().map_err(|_| {
        Error::Shape(format!(
            "{what} must be a C-contiguous (n, d) float64 array"
        ))
    })?;
    Ok((s, n, d))
}

type RemovalOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    usize,
    usize,
    bool,
);

/// Remove symmetries from `theta` `(n, d)`; returns `(samples (n, d), quality_before (H,),
/// quality_after (H,), iterations, sweeps, converged)`.
#[pyfunction]
#[pyo3(signature = (theta, sizes, activation, *, method="assignment", iterations=50, restarts=4,
    max_sweeps=10, seed=0, study_k=1024, study_sigma=1.0, study_iterations=256))]
#[allow(clippy::too_many_arguments)]
fn remove_symmetries<'py>(
    py: Python<'py>,
    theta: PyReadonlyArray2<'py, f64>,
    sizes: Vec<usize>,
    activation: &str,
    method: &str,
    iterations: usize,
    restarts: usize,
    max_sweeps: usize,
    seed: u64,
    study_k: usize,
    study_sigma: f64,
    study_iterations: usize,
) -> PyResult<RemovalOut<'py>> {
    let spec = make_spec(sizes, activation)?;
    let (x, n, d) = rows(&theta, "theta")?;
    if d != spec.num_params() {
        return Err(Error::Shape(format!(
            "theta has {d} columns, but a network of sizes {:?} has {} parameters",
            spec.sizes,
            spec.num_params()
        ))
        .into());
    }
    let opts = RemovalOptions {
        method: Method::parse(method)?,
        iterations,
        restarts,
        max_sweeps,
        seed,
        study: StudyOptions {
            k: study_k,
            sigma: study_sigma,
            iterations: study_iterations,
            ..StudyOptions::default()
        },
    };
    let r = py.detach(|| removal::remove_symmetries(x, n, &spec, &opts))?;
    let samples = r.theta.into_pyarray(py).reshape([n, d])?;
    Ok((
        samples,
        r.quality_before.into_pyarray(py),
        r.quality_after.into_pyarray(py),
        r.iterations,
        r.sweeps,
        r.converged,
    ))
}

type AlignOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
);

/// Align each sample of `theta` `(n, d)` to the nearest of `references` `(k, d)`; returns
/// `(aligned (n, d), nearest (n,), squared distance (n,))`.
#[pyfunction]
#[pyo3(signature = (theta, references, sizes, activation, *, max_sweeps=10))]
fn align_to_references<'py>(
    py: Python<'py>,
    theta: PyReadonlyArray2<'py, f64>,
    references: PyReadonlyArray2<'py, f64>,
    sizes: Vec<usize>,
    activation: &str,
    max_sweeps: usize,
) -> PyResult<AlignOut<'py>> {
    let spec = make_spec(sizes, activation)?;
    let (x, n, d) = rows(&theta, "theta")?;
    let (r, k, _) = rows(&references, "references")?;
    let a = py.detach(|| removal::align_to_references(x, n, &spec, r, k, max_sweeps))?;
    let nearest: Vec<i64> = a.nearest.into_iter().map(|v| v as i64).collect();
    Ok((
        a.theta.into_pyarray(py).reshape([n, d])?,
        nearest.into_pyarray(py),
        a.sq_distance.into_pyarray(py),
    ))
}

/// Per hidden layer, the mean squared distance of neuron vectors to their position's mean.
#[pyfunction]
fn removal_quality<'py>(
    py: Python<'py>,
    theta: PyReadonlyArray2<'py, f64>,
    sizes: Vec<usize>,
    activation: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let spec = make_spec(sizes, activation)?;
    let (x, n, _) = rows(&theta, "theta")?;
    let q = py.detach(|| removal::template_distance(x, n, &spec))?;
    Ok(q.into_pyarray(py))
}

type ModesOut<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    usize,
    usize,
    f64,
);

/// Cluster `x` `(n, D)` into modes; returns `(labels (n,), counts (k,), representatives (k,),
/// singletons, clusters, tol)`.
#[pyfunction]
#[pyo3(signature = (x, *, tol=None, min_size=2))]
fn cluster_modes<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    tol: Option<f64>,
    min_size: usize,
) -> PyResult<ModesOut<'py>> {
    let (v, n, dim) = rows(&x, "x")?;
    let m = py.detach(|| modes::find_modes(v, n, dim, tol, min_size))?;
    let as_i64 = |u: Vec<usize>| u.into_iter().map(|c| c as i64).collect::<Vec<i64>>();
    Ok((
        m.labels.into_pyarray(py),
        as_i64(m.counts).into_pyarray(py),
        as_i64(m.representatives).into_pyarray(py),
        m.singletons,
        m.clusters,
        m.tol,
    ))
}

/// The tolerance `cluster_modes` picks when none is given.
#[pyfunction]
fn auto_tolerance(py: Python<'_>, x: PyReadonlyArray2<'_, f64>) -> PyResult<f64> {
    let (v, n, dim) = rows(&x, "x")?;
    Ok(py.detach(|| modes::auto_tolerance(v, n, dim))?)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(remove_symmetries, m)?)?;
    m.add_function(wrap_pyfunction!(removal_quality, m)?)?;
    m.add_function(wrap_pyfunction!(align_to_references, m)?)?;
    m.add_function(wrap_pyfunction!(cluster_modes, m)?)?;
    m.add_function(wrap_pyfunction!(auto_tolerance, m)?)?;
    m.add("AUTO_TOLERANCE_GAP", modes::AUTO_GAP)?;
    m.add("AUTO_TOLERANCE_TAIL", modes::AUTO_TAIL)?;
    Ok(())
}
