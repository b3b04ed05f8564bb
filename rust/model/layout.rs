//! The flat parameter layout (the same in Rust, JAX and files), and its one owner: for each
//! layer `l` in order, its weight matrix of shape `(sizes[l], sizes[l+1])` in row-major order,
//! then its bias of length `sizes[l+1]`. Hidden neuron `j` of layer `l` therefore owns column
//! `j` of weight matrix `l` (incoming), entry `j` of bias `l`, and row `j` of weight matrix
//! `l+1` (outgoing).

use super::MlpSpec;

/// Hidden layer `index` seen through the flat layout: its sizes and where its neurons' parts
/// lie (weight layers `index` and `index + 1`). Its incoming weights `(fan_in, m)` are followed
/// by its bias `(m)`, and its outgoing weights `(m, fan_out)` by the next layer's bias
/// `(fan_out)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// Index among the hidden layers.
    pub index: usize,
    /// Width of the layer before (the input, for the first hidden layer).
    pub fan_in: usize,
    /// Width: the number of neurons.
    pub m: usize,
    /// Width of the layer after (the output, for the last hidden layer).
    pub fan_out: usize,
    /// Offset of the incoming weights, row-major `(fan_in, m)`: neuron `j`'s are column `j`.
    pub w_in: usize,
    /// Offset of the bias (`m` entries).
    pub b: usize,
    /// Offset of the outgoing weights, row-major `(m, fan_out)`: neuron `j`'s are row `j`.
    pub w_out: usize,
    /// Offset of the next layer's bias (`fan_out` entries).
    pub b_next: usize,
}

impl MlpSpec {
    /// Total number of network parameters `d`.
    pub fn num_params(&self) -> usize {
        self.sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// Offset of weight matrix `l` (shape `(sizes[l], sizes[l+1])`, row-major).
    pub fn weight_offset(&self, l: usize) -> usize {
        self.sizes[..=l]
            .windows(2)
            .map(|w| w[0] * w[1] + w[1])
            .sum::<usize>()
    }

    /// Offset of bias `l` (length `sizes[l+1]`).
    pub fn bias_offset(&self, l: usize) -> usize {
        self.weight_offset(l) + self.sizes[l] * self.sizes[l + 1]
    }

    /// Hidden layer `h` (`h < num_hidden()`).
    pub fn hidden_layer(&self, h: usize) -> Layer {
        Layer {
            index: h,
            fan_in: self.sizes[h],
            m: self.sizes[h + 1],
            fan_out: self.sizes[h + 2],
            w_in: self.weight_offset(h),
            b: self.bias_offset(h),
            w_out: self.weight_offset(h + 1),
            b_next: self.bias_offset(h + 1),
        }
    }

    /// Every hidden layer, from the input to the output.
    pub fn hidden_layers(&self) -> impl Iterator<Item = Layer> + '_ {
        (0..self.num_hidden()).map(|h| self.hidden_layer(h))
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Activation, Layer, MlpSpec};

    #[test]
    fn offsets_follow_the_flat_layout() {
        let s = MlpSpec::new(vec![1, 3, 1], Activation::Tanh).unwrap();
        assert_eq!(s.num_params(), 10);
        assert_eq!(s.weight_offset(0), 0);
        assert_eq!(s.bias_offset(0), 3);
        assert_eq!(s.weight_offset(1), 6);
        assert_eq!(s.bias_offset(1), 9);
        let f2 = MlpSpec::new(vec![8, 16, 16, 16, 1], Activation::Tanh).unwrap();
        assert_eq!(f2.num_params(), 705);
    }

    #[test]
    fn hidden_layers_see_their_blocks() {
        // [2, 3, 4, 1]: W0 (2,3) at 0, b0 at 6, W1 (3,4) at 9, b1 at 21, W2 (4,1) at 25, b2 at 29.
        let s = MlpSpec::new(vec![2, 3, 4, 1], Activation::Tanh).unwrap();
        let layers: Vec<Layer> = s.hidden_layers().collect();
        assert_eq!(
            layers,
            vec![
                Layer {
                    index: 0,
                    fan_in: 2,
                    m: 3,
                    fan_out: 4,
                    w_in: 0,
                    b: 6,
                    w_out: 9,
                    b_next: 21,
                },
                Layer {
                    index: 1,
                    fan_in: 3,
                    m: 4,
                    fan_out: 1,
                    w_in: 9,
                    b: 21,
                    w_out: 25,
                    b_next: 29,
                },
            ]
        );
        for l in &layers {
            // The bias follows the incoming weights, the next bias the outgoing ones.
            assert_eq!(l.b, l.w_in + l.fan_in * l.m);
            assert_eq!(l.b_next, l.w_out + l.m * l.fan_out);
        }
        assert_eq!(s.num_params(), 30);
        let none = MlpSpec::new(vec![2, 1], Activation::Tanh).unwrap();
        assert_eq!(none.hidden_layers().count(), 0);
    }
}
