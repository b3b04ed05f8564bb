//! One hidden layer's neurons (a [`Layer`] of the flat layout): their neuron vectors
//! `φ_j = (incoming column j of W_l, bias b_l[j], outgoing row j of W_{l+1})` and the group
//! actions that move neurons around without changing the network's function.

use crate::model::Layer;

/// Which parts of `φ` take part in matching. A part that indexes a neighbouring hidden layer
/// whose neurons are not aligned yet is noise, so the first sweep leaves it out (zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mask {
    pub incoming: bool,
    pub outgoing: bool,
}

impl Mask {
    pub(crate) const FULL: Mask = Mask {
        incoming: true,
        outgoing: true,
    };
}

/// The neuron vectors of a hidden layer and the group actions on them, for removal.
impl Layer {
    /// Length of a neuron vector `φ`.
    pub(crate) fn dim(&self) -> usize {
        self.fan_in + 1 + self.fan_out
    }

    /// Write `φ_j` of the sample `x` (length `d`) into `out` (length `dim()`); masked parts are 0.
    pub(crate) fn gather(&self, x: &[f64], j: usize, mask: Mask, out: &mut [f64]) {
        let (fi, m, fo) = (self.fan_in, self.m, self.fan_out);
        for (i, o) in out[..fi].iter_mut().enumerate() {
            *o = if mask.incoming {
                x[self.w_in + i * m + j]
            } else {
                0.0
            };
        }
        out[fi] = x[self.b + j];
        let row = &x[self.w_out + j * fo..self.w_out + (j + 1) * fo];
        for (o, &v) in out[fi + 1..fi + 1 + fo].iter_mut().zip(row) {
            *o = if mask.outgoing { v } else { 0.0 };
        }
    }

    /// All `m` neuron vectors of `x`, row-major `(m, dim())`.
    pub(crate) fn gather_all(&self, x: &[f64], mask: Mask, out: &mut [f64]) {
        let p = self.dim();
        for j in 0..self.m {
            self.gather(x, j, mask, &mut out[j * p..(j + 1) * p]);
        }
    }

    /// Move neuron `src[k]` to position `k`, multiplied by `sign[k]` (±1). With
    /// `sigmoid = true` a flip is the sigmoid's `σ(-z) = 1 - σ(z)`: the old outgoing weights are
    /// added to the next layer's bias. Exactly function-preserving; `scratch` is reused.
    pub(crate) fn apply(
        &self,
        x: &mut [f64],
        src: &[u32],
        sign: &[i8],
        sigmoid: bool,
        scratch: &mut Vec<f64>,
    ) {
        let (fi, m, fo) = (self.fan_in, self.m, self.fan_out);
        let identity =
            src.iter().enumerate().all(|(k, &j)| j as usize == k) && sign.iter().all(|&s| s > 0);
        if identity {
            return;
        }
        // Copy the old incoming block (fi, m), bias (m) and outgoing block (m, fo).
        scratch.clear();
        scratch.extend_from_slice(&x[self.w_in..self.w_in + fi * m]);
        scratch.extend_from_slice(&x[self.b..self.b + m]);
        scratch.extend_from_slice(&x[self.w_out..self.w_out + m * fo]);
        let (old_in, rest) = scratch.split_at(fi * m);
        let (old_b, old_out) = rest.split_at(m);
        for k in 0..m {
            let j = src[k] as usize;
            let s = f64::from(sign[k]);
            for i in 0..fi {
                x[self.w_in + i * m + k] = s * old_in[i * m + j];
            }
            x[self.b + k] = s * old_b[j];
            for o in 0..fo {
                x[self.w_out + k * fo + o] = s * old_out[j * fo + o];
            }
            if sigmoid && s < 0.0 {
                for o in 0..fo {
                    x[self.b_next + o] += old_out[j * fo + o];
                }
            }
        }
    }

    /// Positive rescaling (ReLU family): give every neuron unit norm of (incoming, bias) by
    /// scaling them by `1/c` and the outgoing weights by `c`. Neurons with zero norm stay.
    pub(crate) fn normalize_scale(&self, x: &mut [f64]) {
        let (fi, m, fo) = (self.fan_in, self.m, self.fan_out);
        for j in 0..m {
            let mut sq = x[self.b + j] * x[self.b + j];
            for i in 0..fi {
                let w = x[self.w_in + i * m + j];
                sq += w * w;
            }
            let c = sq.sqrt();
            if !(c > 0.0 && c.is_finite()) {
                continue;
            }
            for i in 0..fi {
                x[self.w_in + i * m + j] /= c;
            }
            x[self.b + j] /= c;
            for o in 0..fo {
                x[self.w_out + j * fo + o] *= c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, MlpSpec};

    #[test]
    fn gather_follows_the_flat_layout() {
        // [2, 3, 1]: W0 (2,3) at 0, b0 at 6, W1 (3,1) at 9, b1 at 12.
        let spec = MlpSpec::new(vec![2, 3, 1], Activation::Tanh).unwrap();
        let x: Vec<f64> = (0..13).map(f64::from).collect();
        let l = spec.hidden_layer(0);
        let mut phi = vec![0.0; l.dim()];
        l.gather(&x, 1, Mask::FULL, &mut phi);
        assert_eq!(phi, vec![1.0, 4.0, 7.0, 10.0]);
        l.gather(
            &x,
            2,
            Mask {
                incoming: false,
                outgoing: true,
            },
            &mut phi,
        );
        assert_eq!(phi, vec![0.0, 0.0, 8.0, 11.0]);
    }

    #[test]
    fn apply_permutes_and_flips_whole_neurons() {
        let spec = MlpSpec::new(vec![2, 3, 1], Activation::Tanh).unwrap();
        let x: Vec<f64> = (0..13).map(f64::from).collect();
        let l = spec.hidden_layer(0);
        let mut y = x.clone();
        l.apply(&mut y, &[2, 0, 1], &[1, -1, 1], false, &mut Vec::new());
        let mut phi = vec![0.0; 4];
        l.gather(&y, 0, Mask::FULL, &mut phi);
        assert_eq!(phi, vec![2.0, 5.0, 8.0, 11.0]);
        l.gather(&y, 1, Mask::FULL, &mut phi);
        assert_eq!(phi, vec![-0.0, -3.0, -6.0, -9.0]);
        assert_eq!(y[12], 12.0);
        // The sigmoid flip also moves the old outgoing weight into the next bias.
        let mut z = x.clone();
        l.apply(&mut z, &[0, 1, 2], &[1, -1, 1], true, &mut Vec::new());
        assert_eq!(z[12], 12.0 + 10.0);
    }
}
