//! `E[G]` from the Poisson integral `E[G] = ∫_0^∞ f(t) dt`, `f(t) = 1 − Π_j (1 − e^{−π_j t})`
//! (chains arriving as a rate-1 Poisson process: `f(t)` is the probability that some mode is
//! still unvisited at time `t`).
//!
//! In `u = ln t` the integrand `t f(t)` decays exponentially as `u → −∞` and doubly
//! exponentially as `u → ∞` and is analytic in a strip, so the trapezoidal rule converges
//! geometrically: each halving of the step roughly squares the error. Steps of `ln 2 / m` (`m`
//! nodes per octave) make the nodes of one octave the squares' square roots of the next:
//! `e^{−π 2t} = (e^{−π t})²`, so one `exp` per weight and node offset serves every octave, and a
//! node costs one multiplication per weight. Left of `t_a` (where `Π_j (1 − e^{−π_j t}) < e^{−46}`)
//! the integrand is `t` and its sum is a geometric series; right of `t_b` it is below `e^{−50}`.

use std::f64::consts::LN_2;

use rayon::prelude::*;

use super::{exp_neg, log_survival, neumaier_sum, CHUNK, PARALLEL_MIN};
use crate::error::{Error, Result};

/// `ln Π_j (1 − e^{−π_j t}) ≤ HEAD` for `t ≤ t_a`: there `f(t) = 1` to 1e-20.
const HEAD: f64 = 46.0;
/// `f(t) ≤ e^{−TAIL}` for `t ≥ t_b`.
const TAIL: f64 = 50.0;
/// Two successive trapezoidal sums closer than this (relative) end the halving: the error of
/// the finer one is then about the square of the difference.
const AGREEMENT: f64 = 1e-7;
const FIRST_PER_OCTAVE: usize = 16;
const MAX_PER_OCTAVE: usize = 1 << 14;
/// Squaring `z = e^{−a}` doubles its relative error, which only stays harmless where `a ≥ ln 2`;
/// nodes whose previous octave had `a < ln 2` take a fresh `exp`.
const FRESH_BELOW: f64 = 2.0 * LN_2;

/// `E[G]` for validated weights sorted ascending.
pub(crate) fn expected(w: &[f64]) -> Result<f64> {
    if w.len() == 1 {
        return Ok(1.0);
    }
    let (t_a, t_b) = range(w);
    let octaves = (t_b / t_a).log2();
    let trapezoid = |m: usize, sum: f64| {
        let h = LN_2 / m as f64;
        h * (t_a / h.exp_m1() + sum)
    };
    let mut m = FIRST_PER_OCTAVE;
    let offsets: Vec<usize> = (0..m).collect();
    let sums = octave_sums(w, t_a, octaves, m, &offsets);
    let even = neumaier_sum(sums.iter().step_by(2).copied());
    let mut total = even + neumaier_sum(sums.iter().skip(1).step_by(2).copied());
    let mut coarse = trapezoid(m / 2, even);
    let mut fine = trapezoid(m, total);
    while (fine - coarse).abs() > AGREEMENT * fine {
        if m >= MAX_PER_OCTAVE {
            return Err(Error::Value(format!(
                "E[G]: the trapezoidal sums did not settle ({coarse} vs {fine}); the weights \
                 are too extreme"
            )));
        }
        m *= 2;
        let odd: Vec<usize> = (1..m).step_by(2).collect();
        total += neumaier_sum(octave_sums(w, t_a, octaves, m, &odd));
        coarse = fine;
        fine = trapezoid(m, total);
    }
    Ok(fine)
}

/// `(t_a, t_b)`: below `t_a` every mode is still missing with probability `1 − e^{−46}` or more
/// in total, above `t_b` some mode is missing with probability at most `e^{−50}`.
fn range(w: &[f64]) -> (f64, f64) {
    let nu = w.len();
    let (p_min, p_max) = (w[0], w[nu - 1]);
    // Π_j (1 − e^{−π_j t}) ≤ (π_max t)^ν.
    let mut t_a = (-HEAD / nu as f64).exp() / p_max;
    // ln Π_j (1 − e^{−π_j t}) ≤ −Σ_{j<k} e^{−π_j t} ≤ −k e^{−π_(k) t} with π_(k) = w[k − 1].
    let mut k = HEAD as usize;
    while k <= nu {
        t_a = t_a.max((k as f64 / HEAD).ln() / w[k - 1]);
        k *= 2;
    }
    // f(t) ≤ Σ_j e^{−π_j t} / (1 − e^{−π_j t}) ≤ ν e^{−π_min t} (1 + tiny).
    let t_b = ((nu as f64).ln() + TAIL) / p_min;
    (t_a, t_b)
}

/// For each offset `i` (of `m` per octave), `Σ_o t f(t)` over the nodes `t = t_a 2^{o + i/m}` up
/// to `t_a 2^octaves`.
fn octave_sums(w: &[f64], t_a: f64, octaves: f64, m: usize, offsets: &[usize]) -> Vec<f64> {
    let starts: Vec<f64> = offsets
        .iter()
        .map(|&i| t_a * (i as f64 / m as f64 * LN_2).exp())
        .collect();
    let counts: Vec<usize> = offsets
        .iter()
        .map(|&i| (octaves - i as f64 / m as f64).floor() as usize + 1)
        .collect();
    // ln Π_j (1 − e^{−π_j t}) per node, summed over chunks of weights in a fixed order.
    let per_chunk = |chunk: &[f64]| log_products(chunk, &starts, &counts);
    let parts: Vec<Vec<Vec<f64>>> = if w.len() < PARALLEL_MIN {
        vec![per_chunk(w)]
    } else {
        w.par_chunks(CHUNK).map(per_chunk).collect()
    };
    (0..offsets.len())
        .map(|k| {
            let mut t = starts[k];
            let mut sum = 0.0;
            for o in 0..counts[k] {
                let log_f: f64 = parts.iter().map(|p| p[k][o]).sum();
                sum += t * -log_f.exp_m1();
                t *= 2.0;
            }
            sum
        })
        .collect()
}

with_avx2! {
    /// `ln Π_{j ∈ chunk} (1 − e^{−π_j t})` at `t = start · 2^o`, `o < count`, for each start.
    fn log_products(chunk: &[f64], starts: &[f64], counts: &[usize]) -> Vec<Vec<f64>> {
        let mut z = vec![0.0; chunk.len()];
        let mut out = Vec::with_capacity(starts.len());
        for (&start, &count) in starts.iter().zip(counts) {
            let mut logs = Vec::with_capacity(count);
            let mut t = start;
            for o in 0..count {
                // Weights ascend, so the modes that need a fresh exp form a prefix.
                let fresh = if o == 0 {
                    chunk.len()
                } else {
                    chunk.partition_point(|&p| p * t < FRESH_BELOW)
                };
                let (head, tail) = z.split_at_mut(fresh);
                for (zj, &p) in head.iter_mut().zip(&chunk[..fresh]) {
                    *zj = exp_neg(-p * t);
                }
                for zj in tail {
                    *zj *= *zj;
                }
                logs.push(log_survival(&z));
                t *= 2.0;
            }
            out.push(logs);
        }
        out
    }
}
