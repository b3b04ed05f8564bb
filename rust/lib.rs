//! symbnn-core: the combinatorial work behind symbnn, in plain Rust.
//!
//! Nothing in these modules knows about Python; the bindings live in `python/` and are compiled
//! only with the `python` feature. Every function works on the one flat parameter layout that
//! symbnn uses everywhere (see [`model`]). [`progress`] is the one piece that talks to XLA: the
//! C-ABI handler that running sampling programs tick.

pub mod bound;
pub mod canonical;
pub mod error;
pub mod model;
pub mod modes;
pub mod progress;
pub mod removal;

#[cfg(feature = "python")]
mod python;

pub use canonical::{Canonicalizer, Real, Transform, TransformMut, TransformRef};
pub use error::{Error, Result};
pub use model::{Activation, MlpSpec, Symmetries};
