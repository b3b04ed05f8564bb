//! Transforms as group elements: checking one, applying it (what canonicalization did, bit for
//! bit) and undoing it.

use rayon::prelude::*;

use super::{check_rows, rows_per_task, Canonicalizer, Decisions, Real, Scratch, TransformRef};
use crate::error::{Error, Result};
use crate::model::{Activation, Layer};

impl Canonicalizer {
    /// Checks that every row of `t` is an element of this activation's group: permutations of
    /// each layer, signs ±1 (−1 only with a sign or sigmoid flip), finite positive scales (≠ 1
    /// only with positive scaling). Returns the number of rows in `t`.
    fn check_transform<T: Real>(&self, t: &TransformRef<'_, T>) -> Result<usize> {
        let h = self.hidden_total;
        let n = t.perm.len();
        if t.sign.len() != n || t.scale.len() != n || (h == 0 && n != 0) || (h > 0 && n % h != 0) {
            return Err(Error::Shape(format!(
                "transform arrays must hold rows of {h} entries each, got {}, {} and {} entries",
                t.perm.len(),
                t.sign.len(),
                t.scale.len()
            )));
        }
        let rows = n.checked_div(h).unwrap_or(0);
        let sym = self.activation.symmetries();
        let flips = sym.sign_flip || sym.sigmoid_flip;
        let act = self.activation.name();
        let bad = (0..rows).into_par_iter().find_map_first(|row| {
            let mut seen = vec![false; self.widest];
            for (l, layer) in self.layers.iter().enumerate() {
                let at = row * h + self.t_offsets[l];
                seen[..layer.m].fill(false);
                for k in 0..layer.m {
                    let p = t.perm[at + k];
                    if p < 0 || p as usize >= layer.m || seen[p as usize] {
                        return Some(Error::Value(format!(
                            "transform row {row}, hidden layer {l}: the permutation {:?} is \
                             not a permutation of 0..{}",
                            &t.perm[at..at + layer.m],
                            layer.m
                        )));
                    }
                    seen[p as usize] = true;
                    let sign = t.sign[at + k];
                    if sign != 1 && sign != -1 {
                        return Some(Error::Value(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: sign {sign} is \
                             not +1 or -1"
                        )));
                    }
                    if sign == -1 && !flips {
                        return Some(Error::Unsupported(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: a sign flip, \
                             which activation {act:?} does not have"
                        )));
                    }
                    let c = t.scale[at + k];
                    if !(c > T::ZERO && c <= T::MAX) {
                        return Some(Error::Value(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: scale {} is \
                             not positive and finite",
                            c.to_f64()
                        )));
                    }
                    if c != T::ONE && !sym.positive_scaling {
                        return Some(Error::Unsupported(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: scale {}, but \
                             activation {act:?} has no positive scaling",
                            c.to_f64()
                        )));
                    }
                }
            }
            None
        });
        match bad {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// Applies transform `t` to `data` (`rows × row_len`) in place: row `i` gets row `i` of
    /// `t`, or its only row. `apply(θ, T(θ))` equals `canonicalize(θ)` bit for bit (up to
    /// rounding in dead neurons' rescaled outgoing weights). The
    /// transform is checked first, so on an error nothing has been changed.
    pub fn apply<T: Real>(
        &self,
        data: &mut [T],
        row_len: usize,
        t: TransformRef<'_, T>,
    ) -> Result<()> {
        self.transform(data, row_len, t, false)
    }

    /// Undoes [`Canonicalizer::apply`]: `invert(apply(θ, t), t) == θ` (exactly for
    /// permutations and signs, to rounding for scales and the sigmoid flip).
    pub fn invert<T: Real>(
        &self,
        data: &mut [T],
        row_len: usize,
        t: TransformRef<'_, T>,
    ) -> Result<()> {
        self.transform(data, row_len, t, true)
    }

    fn transform<T: Real>(
        &self,
        data: &mut [T],
        row_len: usize,
        t: TransformRef<'_, T>,
        inverse: bool,
    ) -> Result<()> {
        let rows = check_rows(data.len(), row_len, self.d, "theta")?;
        let t_rows = self.check_transform(&t)?;
        let h = self.hidden_total;
        if h == 0 || rows == 0 {
            return Ok(());
        }
        if t_rows != rows && t_rows != 1 {
            return Err(Error::Shape(format!(
                "the transform has {t_rows} rows but theta has {rows} (they must match, or the \
                 transform must have one row)"
            )));
        }
        let per_task = rows_per_task(rows);
        let d = self.d;
        data.par_chunks_mut(per_task * row_len)
            .enumerate()
            .for_each(|(task, chunk)| {
                let mut s = self.scratch::<T>();
                for (i, out) in chunk.chunks_mut(row_len).enumerate() {
                    let row = if t_rows == 1 { 0 } else { task * per_task + i };
                    let at = row * h;
                    let tr = TransformRef {
                        perm: &t.perm[at..at + h],
                        sign: &t.sign[at..at + h],
                        scale: &t.scale[at..at + h],
                    };
                    if inverse {
                        self.invert_row(&mut out[..d], &mut s, tr);
                    } else {
                        s.row.copy_from_slice(&out[..d]);
                        let src = &s.row;
                        self.pass(
                            src,
                            &mut out[..d],
                            &mut s.a,
                            &mut s.b,
                            &mut s.dec,
                            |l, _, _, dec| {
                                read_layer(l, self.t_offsets[l.index], tr, dec);
                            },
                        );
                    }
                }
            });
        Ok(())
    }

    fn invert_row<T: Real>(&self, x: &mut [T], s: &mut Scratch<T>, t: TransformRef<'_, T>) {
        let sigmoid = self.activation == Activation::Sigmoid;
        for l in self.layers.iter().rev() {
            read_layer(l, self.t_offsets[l.index], t, &mut s.dec);
            let (perm, sign, scale) = (&s.dec.perm[..l.m], &s.dec.sign, &s.dec.scale);
            unfix_and_scatter(x, l, perm, sign, scale, &mut s.a);
            if sigmoid {
                // The rows are back in place: take back what each flipped neuron added.
                for (j, &sg) in sign[..l.m].iter().enumerate() {
                    if sg < T::ZERO {
                        for k in 0..l.fan_out {
                            let v = x[l.w_out + j * l.fan_out + k] * scale[j];
                            x[l.b_next + k] -= v;
                        }
                    }
                }
            }
        }
    }
}

/// A layer's group element from a transform row (canonical order, the layer's neurons from
/// `at`) into `dec` (original order).
fn read_layer<T: Real>(l: &Layer, at: usize, t: TransformRef<'_, T>, dec: &mut Decisions<T>) {
    for k in 0..l.m {
        let p = t.perm[at + k] as usize;
        dec.perm[k] = p;
        dec.sign[p] = if t.sign[at + k] < 0 { -T::ONE } else { T::ONE };
        dec.scale[p] = t.scale[at + k];
    }
}

/// Inverse of one layer of [`super::write_layer`], in place: the neuron at position `k` goes back to
/// `perm[k]`, its sign and scale undone (the sigmoid's bias update is undone by the caller).
fn unfix_and_scatter<T: Real>(
    x: &mut [T],
    l: &Layer,
    perm: &[usize],
    sign: &[T],
    scale: &[T],
    tmp: &mut [T],
) {
    let m = l.m;
    let inc = &mut x[l.w_in..l.w_in + l.incoming_len()];
    tmp[..inc.len()].copy_from_slice(inc);
    for (src, dst) in tmp.chunks_exact(m).zip(inc.chunks_exact_mut(m)) {
        for (k, &p) in perm.iter().enumerate() {
            dst[p] = (src[k] * sign[p]) * scale[p];
        }
    }
    let n = l.fan_out;
    let block = &mut x[l.w_out..l.b_next];
    tmp[..m * n].copy_from_slice(block);
    for (k, &p) in perm.iter().enumerate() {
        let (r, sg) = (scale[p], sign[p]);
        for (v, &o) in block[p * n..(p + 1) * n]
            .iter_mut()
            .zip(&tmp[k * n..(k + 1) * n])
        {
            *v = (o * sg) / r;
        }
    }
}
