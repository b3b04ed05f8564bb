//! One error type for the whole core; the bindings map each variant once onto a Python exception
//! (all subclasses of `symbnn.SymbnnError`, itself a `ValueError`).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An array whose shape does not fit the network or the other arguments.
    Shape(String),
    /// A NaN or infinity; `index` is the sample (row) that holds it.
    NonFinite { what: String, index: usize },
    /// Mode weights (probabilities) that are not a valid distribution.
    Weights(String),
    /// Something the activation, method or size range does not support.
    Unsupported(String),
    /// Any other argument outside its domain.
    Value(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(m) | Error::Weights(m) | Error::Unsupported(m) | Error::Value(m) => {
                f.write_str(m)
            }
            Error::NonFinite { what, index } => {
                write!(f, "{what}: non-finite value (NaN or inf) in sample {index}")
            }
        }
    }
}

impl std::error::Error for Error {}
