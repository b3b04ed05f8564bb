//! The backward pass that settles dead neurons (see the parent module's docs).

use std::cmp::Ordering;

use super::{cmp_values, Canonicalizer, Real, SettleScratch, TransformMut};

impl Canonicalizer {
    /// The end of canonicalization for dead neurons (see the module docs), on the finished
    /// sample `x`, from the last hidden layer back; `rec` follows along.
    pub(super) fn settle_dead<T: Real>(
        &self,
        x: &mut [T],
        live: &[usize],
        s: &mut SettleScratch<T>,
        mut rec: Option<&mut TransformMut<'_, T>>,
    ) {
        for l in self.layers.iter().rev() {
            let (m, n, live) = (l.m, l.fan_out, live[l.index]);
            let t0 = self.t_offsets[l.index];
            if live == m {
                continue;
            }
            if self.remove.positive_scaling {
                // A dead neuron's scale can only show in its outgoing weights: make them a unit
                // vector (this rounds, unlike everything else that touches dead neurons).
                for k in live..m {
                    let out = &mut x[l.w_out + k * n..l.w_out + (k + 1) * n];
                    let a = out.iter().fold(T::ZERO, |a, &v| a.max(v.abs()));
                    if a == T::ZERO {
                        continue;
                    }
                    let norm = a * out
                        .iter()
                        .fold(T::ZERO, |s, &v| s + (v / a) * (v / a))
                        .sqrt();
                    let r = T::ONE / norm;
                    if r > T::MAX {
                        continue;
                    }
                    for v in out.iter_mut() {
                        *v = *v / norm;
                    }
                    // Weights from dead neurons may be nonzero; they take the inverse factor.
                    for i in 0..=l.fan_in {
                        x[l.w_in + i * m + k] = x[l.w_in + i * m + k] * norm;
                    }
                    if let Some(t) = rec.as_mut() {
                        t.scale[t0 + k] = t.scale[t0 + k] * r;
                    }
                }
            }
            if self.remove.sign_flip {
                for k in live..m {
                    let out = x[l.w_out + k * n..l.w_out + (k + 1) * n].iter().copied();
                    let incoming = (0..=l.fan_in).map(|i| x[l.w_in + i * m + k]);
                    let first = out.chain(incoming).find(|&v| v != T::ZERO);
                    if first.is_some_and(|v| v < T::ZERO) {
                        for i in 0..=l.fan_in {
                            x[l.w_in + i * m + k] = -x[l.w_in + i * m + k];
                        }
                        for v in &mut x[l.w_out + k * n..l.w_out + (k + 1) * n] {
                            *v = -*v;
                        }
                        if let Some(t) = rec.as_mut() {
                            t.sign[t0 + k] = -t.sign[t0 + k];
                        }
                    }
                }
            }
            if !self.remove.permutation || m - live < 2 {
                continue;
            }
            let order = &mut s.order[..m - live];
            for (q, o) in order.iter_mut().enumerate() {
                *o = live + q;
            }
            let key = |a: usize, b: usize| {
                let (ra, rb) = (l.w_out + a * n, l.w_out + b * n);
                let by_out = (0..n).map(|k| cmp_values(x[ra + k], x[rb + k]));
                let by_in = (0..=l.fan_in)
                    .map(|i| cmp_values(x[l.w_in + i * m + a], x[l.w_in + i * m + b]));
                by_out
                    .chain(by_in)
                    .find(|&o| o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            };
            order.sort_by(|&a, &b| key(a, b));
            if order.iter().enumerate().all(|(q, &o)| o == live + q) {
                continue;
            }
            let tmp = &mut s.values;
            for i in 0..=l.fan_in {
                let row = &mut x[l.w_in + i * m + live..l.w_in + (i + 1) * m];
                tmp[..row.len()].copy_from_slice(row);
                for (v, &o) in row.iter_mut().zip(order.iter()) {
                    *v = tmp[o - live];
                }
            }
            let block = &mut x[l.w_out + live * n..l.w_out + m * n];
            tmp[..block.len()].copy_from_slice(block);
            for (dst, &o) in block.chunks_exact_mut(n).zip(order.iter()) {
                dst.copy_from_slice(&tmp[(o - live) * n..(o - live + 1) * n]);
            }
            if let Some(t) = rec.as_mut() {
                let (at, k) = (t0 + live, m - live);
                s.t_perm[..k].copy_from_slice(&t.perm[at..at + k]);
                s.t_sign[..k].copy_from_slice(&t.sign[at..at + k]);
                s.t_scale[..k].copy_from_slice(&t.scale[at..at + k]);
                for (q, &o) in order.iter().enumerate() {
                    t.perm[at + q] = s.t_perm[o - live];
                    t.sign[at + q] = s.t_sign[o - live];
                    t.scale[at + q] = s.t_scale[o - live];
                }
            }
        }
    }
}
