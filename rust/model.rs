//! The network: layer sizes, the hidden activation (its values and the symmetry group it gives
//! each hidden layer) and the flat parameter layout every algorithm shares ([`layout`]).

pub mod layout;

pub use layout::Layer;

use crate::error::{Error, Result};

/// Elementwise activation of the hidden layers (the output layer is always the identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    Tanh,
    Relu,
    LeakyRelu,
    Sigmoid,
    Sin,
    Gelu,
    Silu,
    Identity,
}

/// The equioutput transformations an activation admits for each hidden neuron, beyond which
/// symbnn assumes none (a generic network has no others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symmetries {
    /// Reordering neurons: holds for every elementwise activation.
    pub permutation: bool,
    /// a(-z) = -a(z): negate incoming weights, bias and outgoing weights.
    pub sign_flip: bool,
    /// a(cz) = c·a(z) for c > 0: scale incoming weights and bias by c, outgoing by 1/c.
    pub positive_scaling: bool,
    /// a(-z) = 1 - a(z) (the logistic sigmoid): negate incoming weights, bias and outgoing
    /// weights, and add the old outgoing weights to the next layer's bias.
    pub sigmoid_flip: bool,
}

impl Activation {
    pub const ALL: [Activation; 8] = [
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Sin,
        Activation::Gelu,
        Activation::Silu,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Sin => "sin",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::Identity => "identity",
        }
    }

    pub fn parse(name: &str) -> Result<Activation> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
                Error::Value(format!(
                    "unknown activation {name:?}; expected one of {}",
                    known.join(", ")
                ))
            })
    }

    /// The one table of symmetries; Python reads it through the bindings.
    pub fn symmetries(self) -> Symmetries {
        let (sign_flip, positive_scaling, sigmoid_flip) = match self {
            // Odd functions.
            Activation::Tanh | Activation::Sin => (true, false, false),
            // Positively homogeneous (leaky ReLU keeps a fixed negative slope, so no sign flip).
            Activation::Relu | Activation::LeakyRelu => (false, true, false),
            Activation::Sigmoid => (false, false, true),
            // gelu(-z) = gelu(z) - z and silu(-z) = silu(z) - z: the correction is linear in
            // the layer's input, which no MLP parameter can absorb, so only permutations remain.
            Activation::Gelu | Activation::Silu => (false, false, false),
            // Linear: odd and homogeneous (its full group, GL(M), is larger still).
            Activation::Identity => (true, true, false),
        };
        Symmetries {
            permutation: true,
            sign_flip,
            positive_scaling,
            sigmoid_flip,
        }
    }
}

/// An MLP: `sizes = [in, hidden_1, ..., hidden_{K-1}, out]` and the hidden activation.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpSpec {
    pub sizes: Vec<usize>,
    pub activation: Activation,
}

impl MlpSpec {
    pub fn new(sizes: Vec<usize>, activation: Activation) -> Result<MlpSpec> {
        if sizes.len() < 2 {
            return Err(Error::Value(format!(
                "an MLP needs at least input and output sizes, got {sizes:?}"
            )));
        }
        if let Some(pos) = sizes.iter().position(|&s| s == 0) {
            return Err(Error::Value(format!(
                "layer sizes must be positive, got 0 at position {pos} of {sizes:?}"
            )));
        }
        Ok(MlpSpec { sizes, activation })
    }

    /// Number of weight layers (`sizes.len() - 1`).
    pub fn num_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Number of hidden layers (those with an activation and symmetries).
    pub fn num_hidden(&self) -> usize {
        self.sizes.len() - 2
    }
}

/// The activations' values, as in symbnn.model's `ACTIVATIONS` (JAX). The library itself never
/// evaluates an activation (it only uses their symmetries); the equioutput checks of the tests do.
#[cfg(test)]
impl Activation {
    /// Slope of leaky ReLU for `z < 0` (`symbnn.model.LEAKY_RELU_SLOPE`).
    pub(crate) const LEAKY_RELU_SLOPE: f64 = 0.01;

    /// The activation's value at `z`.
    pub(crate) fn apply(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu => {
                if z >= 0.0 {
                    z
                } else {
                    Activation::LEAKY_RELU_SLOPE * z
                }
            }
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Sin => z.sin(),
            // The exact form, `jax.nn.gelu(z, approximate=False)`: z·Φ(z).
            Activation::Gelu => 0.5 * z * (1.0 + erf(z / std::f64::consts::SQRT_2)),
            Activation::Silu => z * Activation::Sigmoid.apply(z),
            Activation::Identity => z,
        }
    }
}

/// The error function, to within 3e-15: `erf(x) = 2/√π · e^(−x²) · Σ_n 2^n x^(2n+1) / (2n+1)!!`,
/// a series of positive terms (no cancellation); for `|x| ≥ 6`, `erf(x) = ±1` in double
/// precision.
#[cfg(test)]
fn erf(x: f64) -> f64 {
    let a = x.abs();
    if a >= 6.0 {
        return x.signum();
    }
    let (mut term, mut sum, mut n) = (a, a, 0.0);
    while term > 1e-17 * sum {
        n += 1.0;
        term *= 2.0 * a * a / (2.0 * n + 1.0);
        sum += term;
    }
    let v = 2.0 / std::f64::consts::PI.sqrt() * (-a * a).exp() * sum;
    v.min(1.0).copysign(x)
}

/// Scalar reference forward pass of one network on one input row, for the equioutput checks
/// of the canonicalization and removal tests (not used by the library itself).
#[cfg(test)]
pub(crate) fn reference_forward(spec: &MlpSpec, theta: &[f64], x: &[f64]) -> Vec<f64> {
    let mut h = x.to_vec();
    for l in 0..spec.num_layers() {
        let (a, b) = (spec.sizes[l], spec.sizes[l + 1]);
        let (w, bias) = (spec.weight_offset(l), spec.bias_offset(l));
        let mut z: Vec<f64> = (0..b).map(|j| theta[bias + j]).collect();
        for i in 0..a {
            for j in 0..b {
                z[j] += h[i] * theta[w + i * b + j];
            }
        }
        if l + 1 < spec.num_layers() {
            z.iter_mut().for_each(|v| *v = spec.activation.apply(*v));
        }
        h = z;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_refused() {
        for a in Activation::ALL {
            assert_eq!(Activation::parse(a.name()).unwrap(), a);
        }
        assert!(matches!(Activation::parse("swish"), Err(Error::Value(_))));
        assert!(MlpSpec::new(vec![3], Activation::Tanh).is_err());
        assert!(MlpSpec::new(vec![3, 0, 1], Activation::Tanh).is_err());
    }

    #[test]
    fn every_activation_permutes_and_relu_does_not_flip() {
        for a in Activation::ALL {
            assert!(a.symmetries().permutation);
        }
        assert!(!Activation::Relu.symmetries().sign_flip);
        assert!(Activation::Tanh.symmetries().sign_flip);
        assert!(Activation::Sigmoid.symmetries().sigmoid_flip);
    }

    #[test]
    fn erf_matches_known_values() {
        // Python's math.erf.
        let known = [
            (0.0, 0.0),
            (1e-8, 1.1283791670955126e-8),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (3.0, 0.9999779095030014),
            (4.5, 0.9999999998033839),
            (6.0, 1.0),
        ];
        for (x, want) in known {
            assert!((erf(x) - want).abs() <= 2e-16 + 1e-15 * want, "erf({x})");
            assert!(
                (erf(-x) + want).abs() <= 2e-16 + 1e-15 * want,
                "erf({})",
                -x
            );
        }
    }

    #[test]
    fn activation_values_follow_the_python_table() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-15 * (1.0 + b.abs());
        // gelu(z) = z·Φ(z): Φ(1) = 0.8413447460685429, Φ(-2) = 0.02275013194817922.
        assert!(close(Activation::Gelu.apply(1.0), 0.8413447460685429));
        assert!(close(
            Activation::Gelu.apply(-2.0),
            -2.0 * 0.02275013194817922
        ));
        assert!(close(Activation::Gelu.apply(0.0), 0.0));
        assert!(close(Activation::Sigmoid.apply(0.0), 0.5));
        assert!(close(Activation::Sigmoid.apply(2.0), 0.8807970779778823));
        assert!(close(Activation::Silu.apply(2.0), 2.0 * 0.8807970779778823));
        assert!(close(Activation::Tanh.apply(0.5), 0.46211715726000974));
        assert!(close(Activation::Sin.apply(0.5), 0.479425538604203));
        assert_eq!(Activation::Relu.apply(-3.0), 0.0);
        assert_eq!(Activation::Relu.apply(3.0), 3.0);
        assert_eq!(Activation::LeakyRelu.apply(-3.0), -0.03);
        assert_eq!(Activation::LeakyRelu.apply(3.0), 3.0);
        assert_eq!(Activation::Identity.apply(-3.0), -3.0);
        // The symmetries the table claims hold for the values.
        for a in Activation::ALL {
            let s = a.symmetries();
            for z in [-2.5, -0.3, 0.0, 0.7, 1.9] {
                if s.sign_flip {
                    assert!(close(a.apply(-z), -a.apply(z)), "{a:?} odd at {z}");
                }
                if s.positive_scaling {
                    assert!(
                        close(a.apply(3.0 * z), 3.0 * a.apply(z)),
                        "{a:?} homogeneous"
                    );
                }
                if s.sigmoid_flip {
                    assert!(close(a.apply(-z), 1.0 - a.apply(z)), "{a:?} flip at {z}");
                }
            }
        }
    }
}
