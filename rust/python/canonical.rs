//! Bindings for `crate::canonical`: zero-copy input, one output allocation (or none, in place),
//! the GIL released around the work. The Python layer (`symbnn.symmetry`) brings arrays into
//! C order and float32/float64 before calling these.

use numpy::ndarray::IxDyn;
use numpy::{
    Element, IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::{make_spec, ShapeError};
use crate::canonical::{Canonicalizer, Real, Transform, TransformRef};
use crate::error::Error;
use crate::model::Symmetries;

/// The map for these sizes and activation, removing `symmetries` (all of the activation's when
/// `None`).
fn canonicalizer(
    sizes: Vec<usize>,
    activation: &str,
    symmetries: Option<Vec<String>>,
) -> PyResult<Canonicalizer> {
    let spec = make_spec(sizes, activation)?;
    let Some(names) = symmetries else {
        return Ok(Canonicalizer::new(&spec));
    };
    let mut remove = Symmetries {
        permutation: false,
        sign_flip: false,
        positive_scaling: false,
        sigmoid_flip: false,
    };
    for name in &names {
        match name.as_str() {
            "permutation" => remove.permutation = true,
            "sign_flip" => remove.sign_flip = true,
            "positive_scaling" => remove.positive_scaling = true,
            "sigmoid_flip" => remove.sigmoid_flip = true,
            _ => {
                return Err(Error::Value(format!(
                    "unknown symmetry {name:?}; expected permutation, sign_flip, \
                     positive_scaling or sigmoid_flip"
                ))
                .into())
            }
        }
    }
    Ok(Canonicalizer::with_symmetries(&spec, remove)?)
}

/// `(shape, row_len, rows)` of a batch whose last axis holds one sample.
fn batch_shape(shape: &[usize]) -> PyResult<(Vec<usize>, usize, usize)> {
    let Some(&row_len) = shape.last() else {
        return Err(ShapeError::new_err(
            "theta must have at least one axis (..., d)",
        ));
    };
    let rows = shape[..shape.len() - 1].iter().product();
    Ok((shape.to_vec(), row_len, rows))
}

fn contiguous<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>, what: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| ShapeError::new_err(format!("{what} must be a C-contiguous array")))
}

/// The transform's three arrays, shaped `(*lead, H)`.
fn transform_arrays<'py, T: Real + Element>(
    py: Python<'py>,
    t: Transform<T>,
    lead: &[usize],
    h: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let mut shape = lead.to_vec();
    shape.push(h);
    Ok((
        t.perm.into_pyarray(py).reshape(shape.clone())?.into_any(),
        t.sign.into_pyarray(py).reshape(shape.clone())?.into_any(),
        t.scale.into_pyarray(py).reshape(shape)?.into_any(),
    ))
}

fn empty_transform<T: Real>(rows: usize, h: usize) -> Transform<T> {
    Transform {
        perm: vec![0; rows * h],
        sign: vec![0; rows * h],
        scale: vec![T::ZERO; rows * h],
    }
}

fn canonicalize_typed<'py, T: Real + Element>(
    py: Python<'py>,
    theta: &Bound<'py, PyArrayDyn<T>>,
    canon: &Canonicalizer,
    return_transform: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let view = theta.readonly();
    let input = contiguous(&view, "theta")?;
    let (shape, row_len, rows) = batch_shape(theta.shape())?;
    let h = canon.transform_len();
    // numpy's allocator asks the kernel for huge pages (a large Vec would fault in 4 KiB pages,
    // which costs more than the canonicalization itself).
    let out = PyArrayDyn::<T>::zeros(py, IxDyn(&shape), false);
    let mut t = return_transform.then(|| empty_transform::<T>(rows, h));
    {
        let mut out_view = out.readwrite();
        let data = out_view
            .as_slice_mut()
            .map_err(|_| ShapeError::new_err("internal: output"))?;
        py.detach(|| {
            canon.canonicalize_into(input, data, row_len, t.as_mut().map(|t| t.as_mut()))
        })?;
    }
    let out = out.into_any();
    match t {
        None => Ok(out),
        Some(t) => {
            let (p, s, c) = transform_arrays(py, t, &shape[..shape.len() - 1], h)?;
            Ok(PyTuple::new(py, [out, p, s, c])?.into_any())
        }
    }
}

fn canonicalize_in_place_typed<'py, T: Real + Element>(
    py: Python<'py>,
    theta: &Bound<'py, PyArrayDyn<T>>,
    canon: &Canonicalizer,
    return_transform: bool,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (shape, row_len, rows) = batch_shape(theta.shape())?;
    let h = canon.transform_len();
    let mut t = return_transform.then(|| empty_transform::<T>(rows, h));
    let mut view = theta.readwrite();
    let data = view
        .as_slice_mut()
        .map_err(|_| ShapeError::new_err("theta must be a C-contiguous array to work in place"))?;
    py.detach(|| canon.canonicalize_in_place(data, row_len, t.as_mut().map(|t| t.as_mut())))?;
    match t {
        None => Ok(None),
        Some(t) => {
            let (p, s, c) = transform_arrays(py, t, &shape[..shape.len() - 1], h)?;
            Ok(Some(PyTuple::new(py, [p, s, c])?.into_any()))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_typed<'py, T: Real + Element>(
    py: Python<'py>,
    theta: &Bound<'py, PyArrayDyn<T>>,
    canon: &Canonicalizer,
    perm: PyReadonlyArrayDyn<'py, i64>,
    sign: PyReadonlyArrayDyn<'py, i8>,
    scale: &Bound<'py, PyAny>,
    inverse: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let scale = scale.extract::<PyReadonlyArrayDyn<'py, T>>().map_err(|_| {
        ShapeError::new_err("the transform's scales must have the same float dtype as theta")
    })?;
    let view = theta.readonly();
    let (shape, row_len, _) = batch_shape(theta.shape())?;
    let t = TransformRef {
        perm: contiguous(&perm, "perm")?,
        sign: contiguous(&sign, "sign")?,
        scale: contiguous(&scale, "scale")?,
    };
    let input = contiguous(&view, "theta")?;
    // The one allocation (numpy's, for huge pages): a copy, then transformed in place.
    let out = PyArrayDyn::<T>::zeros(py, IxDyn(&shape), false);
    {
        let mut out_view = out.readwrite();
        let data = out_view
            .as_slice_mut()
            .map_err(|_| ShapeError::new_err("internal: output"))?;
        py.detach(|| {
            data.copy_from_slice(input);
            if inverse {
                canon.invert(data, row_len, t)
            } else {
                canon.apply(data, row_len, t)
            }
        })?;
    }
    Ok(out.into_any())
}

fn dtype_error(theta: &Bound<'_, PyAny>) -> PyErr {
    let dtype = theta
        .getattr("dtype")
        .map(|d| d.to_string())
        .unwrap_or_else(|_| theta.get_type().to_string());
    Error::Unsupported(format!(
        "theta must be a float32 or float64 numpy array, got {dtype}"
    ))
    .into()
}

/// Canonicalize `theta` (`(..., row_len)`, C order, float32/float64) into a new array of the
/// same shape and dtype; with `return_transform`, also `(perm, sign, scale)` of shape `(..., H)`.
#[pyfunction]
#[pyo3(signature = (theta, sizes, activation, symmetries=None, return_transform=false))]
fn canonicalize<'py>(
    py: Python<'py>,
    theta: &Bound<'py, PyAny>,
    sizes: Vec<usize>,
    activation: &str,
    symmetries: Option<Vec<String>>,
    return_transform: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let canon = canonicalizer(sizes, activation, symmetries)?;
    if let Ok(a) = theta.cast::<PyArrayDyn<f64>>() {
        canonicalize_typed(py, a, &canon, return_transform)
    } else if let Ok(a) = theta.cast::<PyArrayDyn<f32>>() {
        canonicalize_typed(py, a, &canon, return_transform)
    } else {
        Err(dtype_error(theta))
    }
}

/// Canonicalize a writable C-order float32/float64 array in place; returns `None`, or
/// `(perm, sign, scale)` with `return_transform`. On an error nothing is changed.
#[pyfunction]
#[pyo3(signature = (theta, sizes, activation, symmetries=None, return_transform=false))]
fn canonicalize_in_place<'py>(
    py: Python<'py>,
    theta: &Bound<'py, PyAny>,
    sizes: Vec<usize>,
    activation: &str,
    symmetries: Option<Vec<String>>,
    return_transform: bool,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let canon = canonicalizer(sizes, activation, symmetries)?;
    if let Ok(a) = theta.cast::<PyArrayDyn<f64>>() {
        canonicalize_in_place_typed(py, a, &canon, return_transform)
    } else if let Ok(a) = theta.cast::<PyArrayDyn<f32>>() {
        canonicalize_in_place_typed(py, a, &canon, return_transform)
    } else {
        Err(dtype_error(theta))
    }
}

/// Apply (or, with `inverse`, undo) a transform `(perm int64, sign int8, scale)` of shape
/// `(rows, H)` or `(H,)` to `theta` of shape `(..., row_len)`; returns a new array.
#[pyfunction]
#[pyo3(signature = (theta, sizes, activation, perm, sign, scale, inverse=false))]
#[allow(clippy::too_many_arguments)]
fn apply_transform<'py>(
    py: Python<'py>,
    theta: &Bound<'py, PyAny>,
    sizes: Vec<usize>,
    activation: &str,
    perm: PyReadonlyArrayDyn<'py, i64>,
    sign: PyReadonlyArrayDyn<'py, i8>,
    scale: &Bound<'py, PyAny>,
    inverse: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let canon = canonicalizer(sizes, activation, None)?;
    if let Ok(a) = theta.cast::<PyArrayDyn<f64>>() {
        apply_typed(py, a, &canon, perm, sign, scale, inverse)
    } else if let Ok(a) = theta.cast::<PyArrayDyn<f32>>() {
        apply_typed(py, a, &canon, perm, sign, scale, inverse)
    } else {
        Err(dtype_error(theta))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(canonicalize_in_place, m)?)?;
    m.add_function(wrap_pyfunction!(apply_transform, m)?)?;
    Ok(())
}
