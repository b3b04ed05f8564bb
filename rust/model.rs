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

/// Scalar reference forward pass of one network on one input row, for the equioutput checks
/// of the canonicalization and removal tests (not used by the library itself).
#[cfg(test)]
pub(crate) fn reference_forward(spec: &MlpSpec, theta: &[f64], x: &[f64]) -> Vec<f64> {
    let act = |z: f64| match spec.activation {
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu => {
            if z > 0.0 {
                z
            } else {
                0.01 * z
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Sin => z.sin(),
        Activation::Silu => z / (1.0 + (-z).exp()),
        // Any odd-free smooth function will do for the permutation-only check.
        Activation::Gelu => z * 0.5 * (1.0 + (z / 2f64.sqrt()).tanh()),
        Activation::Identity => z,
    };
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
            z.iter_mut().for_each(|v| *v = act(*v));
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
}
