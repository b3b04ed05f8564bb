//! The exact distribution of `G`: `P(G > t) = Σ_{J≠∅} (−1)^{|J|+1} (1 − Π_J)^t`, without the
//! `2^ν` terms and their cancellation.
//!
//! - `t ≤ DP_MAX`: a dynamic program over the modes whose terms are all non-negative.
//! - `t > DP_MAX`: with `(1 − x)^t = t!/(2πi) ∫ e^{s(1−x)} s^{−t−1} ds` on a vertical line
//!   `Re s = r`, `P(G > t) = t!/(2πi) ∫ e^{s} D(s) s^{−t−1} ds` with
//!   `D(s) = 1 − Π_j (1 − e^{−π_j s})` (Poissonization read backwards). With `r` at the saddle
//!   point the integrand is close to a Gaussian along the line, and the trapezoidal rule needs a
//!   few dozen points; on the line `e^{−π_j s}` is a geometric sequence in the point index, so a
//!   point costs one complex multiplication per mode.

use std::f64::consts::PI;

use rayon::prelude::*;

use super::{exp_neg, log_survival, CHUNK, PARALLEL_MIN};

/// Largest `t` for the dynamic program (its cost is `ν t²/2`, and `ν ≤ t`).
pub(crate) const DP_MAX: u64 = 128;
/// Relative size of the part of the line integral left out beyond the last point.
const TRUNCATION: f64 = 1e-17;
/// Trapezoidal step in units of the Gaussian width of the integrand along the line.
const STEP: f64 = 0.5;
/// The trapezoidal sum and the one with every other point must agree to this (relative), or the
/// step is halved.
const AGREEMENT: f64 = 1e-7;
const MAX_POINTS: usize = 1 << 20;

/// `P(G > t)` for validated weights sorted ascending.
pub(crate) fn miss_probability(w: &[f64], t: u64) -> f64 {
    let nu = w.len() as u64;
    if t < nu {
        return 1.0;
    }
    if nu == 1 {
        return 0.0;
    }
    let q = if t <= DP_MAX {
        dynamic_program(w, t as usize).1
    } else {
        contour(w, t)
    };
    q.clamp(0.0, 1.0)
}

/// `(P(G ≤ t), P(G > t))` by a dynamic program over the modes, `O(ν t²)`.
///
/// After modes `1..k`, `cover[m]` and `miss[m]` are the probabilities that `m` draws from those
/// modes alone (mode `i` with probability `π_i / s_k`, `s_k = π_1 + … + π_k`) see all of them, or
/// not. Mode `k + 1` takes `c` of `m` draws with the binomial probability `b(m, c)` for
/// `θ = π_{k+1} / s_{k+1}`; the others must cover (or miss) within the remaining `m − c`.
pub(crate) fn dynamic_program(w: &[f64], t: usize) -> (f64, f64) {
    let mut cover: Vec<f64> = (0..=t).map(|m| if m >= 1 { 1.0 } else { 0.0 }).collect();
    let mut miss: Vec<f64> = (0..=t).map(|m| if m == 0 { 1.0 } else { 0.0 }).collect();
    let binomial = pascal(t);
    let mut s = w[0];
    let (mut theta_pow, mut rest_pow) = (vec![1.0; t + 1], vec![1.0; t + 1]);
    for &p in &w[1..] {
        let s_next = s + p;
        let (theta, rest) = (p / s_next, s / s_next);
        for c in 1..=t {
            theta_pow[c] = theta_pow[c - 1] * theta;
            rest_pow[c] = rest_pow[c - 1] * rest;
        }
        let mut next_cover = vec![0.0; t + 1];
        let mut next_miss = vec![0.0; t + 1];
        for m in 0..=t {
            let row = &binomial[m];
            let b = |c: usize| row[c] * theta_pow[c] * rest_pow[m - c];
            let mut nc = 0.0;
            let mut nm = b(0);
            for c in 1..=m {
                let bc = b(c);
                nc += bc * cover[m - c];
                nm += bc * miss[m - c];
            }
            next_cover[m] = nc;
            next_miss[m] = nm;
        }
        cover = next_cover;
        miss = next_miss;
        s = s_next;
    }
    (cover[t], miss[t])
}

/// Binomial coefficients `C(m, c)` for `m ≤ t` (rounded once they pass 2^53).
fn pascal(t: usize) -> Vec<Vec<f64>> {
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(t + 1);
    for m in 0..=t {
        let mut row = vec![1.0; m + 1];
        for c in 1..m {
            row[c] = rows[m - 1][c - 1] + rows[m - 1][c];
        }
        rows.push(row);
    }
    rows
}

/// What the saddle-point search needs at a radius `r`.
struct Saddle {
    r: f64,
    /// `ln D(r)`.
    log_d: f64,
    /// `ψ''(r)` for `ψ(r) = r + ln D(r) − N ln r`.
    curvature: f64,
    /// `Σ_j e^{−π_j r}` (bounds `|D|` on the line).
    sum_z: f64,
    /// `e^{−π_j r}` for every mode.
    z: Vec<f64>,
}

/// `(ln D, d ln D/dr, d² ln D/dr², Σ z)` at `r`, filling `z_j = e^{−π_j r}`.
fn log_d_derivatives(w: &[f64], r: f64, z: &mut [f64]) -> (f64, f64, f64, f64) {
    let parts: Vec<[f64; 4]> = if w.len() < PARALLEL_MIN {
        vec![saddle_sums(w, r, z)]
    } else {
        w.par_chunks(CHUNK)
            .zip(z.par_chunks_mut(CHUNK))
            .map(|(wc, zc)| saddle_sums(wc, r, zc))
            .collect()
    };
    let [a, b, sum_z, log_f] = parts.iter().fold([0.0; 4], |acc, p| {
        [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2], acc[3] + p[3]]
    });
    let f = log_f.exp();
    let d = -log_f.exp_m1();
    // D = 1 − F, D' = −F a, D'' = −F (a² − b).
    let g = f * a / d;
    (d.ln(), -g, -f * (a * a - b) / d - g * g, sum_z)
}

with_avx2! {
    /// `[Σ π z/(1 − z), Σ π² z/(1 − z)², Σ z, Σ ln(1 − z)]` over a chunk, filling `z = e^{−π r}`.
    fn saddle_sums(w: &[f64], r: f64, z: &mut [f64]) -> [f64; 4] {
        // Where z is close to 1 (a prefix: weights ascend), 1 − z comes from expm1.
        let near = w.partition_point(|&p| p * r < 0.5);
        let mut one_minus = vec![0.0; w.len()];
        for j in 0..near {
            let e = (-w[j] * r).exp_m1();
            z[j] = 1.0 + e;
            one_minus[j] = -e;
        }
        for j in near..w.len() {
            z[j] = exp_neg(-w[j] * r);
            one_minus[j] = 1.0 - z[j];
        }
        let (mut a, mut b, mut sum_z) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
        let lanes = w.len() - w.len() % 4;
        for j in (0..lanes).step_by(4) {
            for k in 0..4 {
                let ratio = z[j + k] / one_minus[j + k];
                a[k] += w[j + k] * ratio;
                b[k] += w[j + k] * w[j + k] * ratio / one_minus[j + k];
                sum_z[k] += z[j + k];
            }
        }
        for j in lanes..w.len() {
            let ratio = z[j] / one_minus[j];
            a[0] += w[j] * ratio;
            b[0] += w[j] * w[j] * ratio / one_minus[j];
            sum_z[0] += z[j];
        }
        let total = |x: [f64; 4]| (x[0] + x[1]) + (x[2] + x[3]);
        [total(a), total(b), total(sum_z), log_survival(z)]
    }
}

/// The saddle point of `ψ(r) = r + ln D(r) − N ln r`, by Newton's method in `ln r` (where `ψ` is
/// convex), to a fraction of the Gaussian width `1/√ψ''`.
fn saddle(w: &[f64], n1: f64) -> Saddle {
    let mut z = vec![0.0; w.len()];
    let mut r = n1 / (1.0 - w[0]);
    for _ in 0..100 {
        let (log_d, d1, d2, sum_z) = log_d_derivatives(w, r, &mut z);
        if !log_d.is_finite() {
            // Every e^{−π_j r} underflowed: the caller reports 0.
            return Saddle {
                r,
                log_d,
                curvature: 1.0,
                sum_z,
                z,
            };
        }
        let psi1 = 1.0 + d1 - n1 / r;
        let psi2 = n1 / (r * r) + d2;
        let phi1 = r * psi1;
        let phi2 = r * psi1 + r * r * psi2;
        let du = if phi2 > 0.0 {
            (-phi1 / phi2).clamp(-1.0, 1.0)
        } else {
            -phi1.signum()
        };
        let dr = r * du.exp_m1();
        let curvature = if psi2 > 0.0 { psi2 } else { n1 / (r * r) };
        if dr.abs() <= 0.2 / curvature.sqrt() {
            return Saddle {
                r,
                log_d,
                curvature,
                sum_z,
                z,
            };
        }
        r += dr;
    }
    // Newton on a convex function does not cycle; this is only a guard.
    let (log_d, _, d2, sum_z) = log_d_derivatives(w, r, &mut z);
    let curvature = (n1 / (r * r) + d2).max(n1 / (r * r));
    Saddle {
        r,
        log_d,
        curvature,
        sum_z,
        z,
    }
}

/// `ln(t!) + r − (t + 1) ln r` without cancellation (Stirling's series, `t + 1 = n1 > 128`).
fn log_scale(n1: f64, r: f64) -> f64 {
    let inv = 1.0 / n1;
    let inv2 = inv * inv;
    let stirling =
        inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)));
    let delta = (r - n1) / n1;
    0.5 * (2.0 * PI / n1).ln() + stirling + n1 * (delta - delta.ln_1p())
}

/// `x − atan x`, accurate for small `x`.
fn x_minus_atan(x: f64) -> f64 {
    if x.abs() < 0.1 {
        let x2 = x * x;
        // x³/3 − x⁵/5 + x⁷/7 − …, nine terms reach 1e-20 relative for |x| < 0.1.
        let mut term = x * x2;
        let mut sum = 0.0;
        for k in 1..10 {
            let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
            sum += sign * term / (2 * k + 1) as f64;
            term *= x2;
        }
        sum
    } else {
        x - x.atan()
    }
}

/// `P(G > t)` by the saddle-point line integral (see the module notes), `t > DP_MAX`.
pub(crate) fn contour(w: &[f64], t: u64) -> f64 {
    let n1 = t as f64 + 1.0;
    let sp = saddle(w, n1);
    if !sp.log_d.is_finite() {
        // D(r) underflows: the probability is below what a double holds.
        return 0.0;
    }
    let r = sp.r;
    let sigma = 1.0 / sp.curvature.sqrt();
    let scale = log_scale(n1, r);
    // The integrand is below e^{scale} (1 + e^{Σz}) (1 + y²/r²)^{−N/2}, whose integral beyond
    // y = X r is below ½ r e^{scale} (1 + e^{Σz}) (1 + X²)^{−(N−2)/2}; the result is about
    // e^{scale} D(r) σ / √(2π). Take X where the first is TRUNCATION times the second.
    let softplus = if sp.sum_z > 30.0 {
        sp.sum_z
    } else {
        sp.sum_z.exp().ln_1p()
    };
    let budget =
        softplus + (r / 2.0).ln() - TRUNCATION.ln() - sp.log_d - sigma.ln() + 0.5 * (2.0 * PI).ln();
    let x_max = (2.0 * budget.max(0.0) / (n1 - 2.0)).exp_m1().sqrt();
    let mut step = STEP * sigma;
    let mut estimate = f64::NAN;
    for _ in 0..6 {
        let points = ((x_max * r / step).ceil() as usize + 1).min(MAX_POINTS);
        let d = line_values(w, &sp.z, step, points);
        // Re of e^{scale} e^{iy} (r + iy)^{−N} r^N e^{...}: the magnitude and phase relative to y = 0.
        let term = |k: usize| {
            let (dr, di) = d[k];
            let modulus = (dr * dr + di * di).sqrt();
            if modulus == 0.0 {
                return 0.0;
            }
            let y = k as f64 * step;
            let x = y / r;
            let log_mag = scale - 0.5 * n1 * (x * x).ln_1p() + modulus.ln();
            let phase = y * (r - n1) / r + n1 * x_minus_atan(x) + di.atan2(dr);
            log_mag.exp() * phase.cos()
        };
        let terms: Vec<f64> = (0..points).map(term).collect();
        let all = step / PI * (0.5 * terms[0] + terms[1..].iter().sum::<f64>());
        let even = 2.0 * step / PI * (0.5 * terms[0] + terms[2..].iter().step_by(2).sum::<f64>());
        estimate = all;
        if (all - even).abs() <= AGREEMENT * all.abs() || points >= MAX_POINTS {
            break;
        }
        step /= 2.0;
    }
    estimate
}

/// `D(r + i k Δ)` for `k < points` as `(re, im)`, given `z_j = e^{−π_j r}` and `Δ = step`.
fn line_values(w: &[f64], z: &[f64], step: f64, points: usize) -> Vec<(f64, f64)> {
    let per_chunk = |(wc, zc): (&[f64], &[f64])| chunk_line_values(wc, zc, step, points);
    let parts: Vec<Vec<(f64, f64)>> = if w.len() < PARALLEL_MIN {
        vec![per_chunk((w, z))]
    } else {
        w.par_chunks(CHUNK)
            .zip(z.par_chunks(CHUNK))
            .map(per_chunk)
            .collect()
    };
    (0..points)
        .map(|k| {
            parts
                .iter()
                .map(|p| p[k])
                .reduce(complex_join)
                .unwrap_or((0.0, 0.0))
        })
        .collect()
}

/// `1 − (1 − a)(1 − b)` for complex union "probabilities".
#[inline(always)]
fn complex_join(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (one_re, one_im) = (1.0 - a.0, -a.1);
    (
        a.0 + b.0 * one_re - b.1 * one_im,
        a.1 + b.0 * one_im + b.1 * one_re,
    )
}

with_avx2! {
    /// `D(r + i k Δ)` for `k < points` over a chunk of modes, given `z_j = e^{−π_j r}`.
    fn chunk_line_values(w: &[f64], z: &[f64], step: f64, points: usize) -> Vec<(f64, f64)> {
        // w_j(k) = z_j e^{−i π_j k Δ}: start at z_j, rotate by c_j = e^{−i π_j Δ} per point.
        let mut re = z.to_vec();
        let mut im = vec![0.0; z.len()];
        let mut c_re = vec![0.0; w.len()];
        let mut c_im = vec![0.0; w.len()];
        // The angles ascend with the weights: a prefix is small (the usual case: π_j Δ ≈ π_j √t).
        let small = w.partition_point(|&p| p * step <= 1.0);
        for j in 0..small {
            let (s, c) = sin_cos_small(w[j] * step);
            (c_re[j], c_im[j]) = (c, -s);
        }
        for j in small..w.len() {
            let (s, c) = (w[j] * step).sin_cos();
            (c_re[j], c_im[j]) = (c, -s);
        }
        // On the real axis D is real, and the real kernel keeps its relative accuracy.
        let mut out = Vec::with_capacity(points);
        out.push((-log_survival(&re).exp_m1(), 0.0));
        for _ in 1..points {
            for j in 0..re.len() {
                let (a, b) = (re[j], im[j]);
                re[j] = a * c_re[j] - b * c_im[j];
                im[j] = a * c_im[j] + b * c_re[j];
            }
            let mut d = (0.0, 0.0);
            for (a, b) in re.chunks(256).zip(im.chunks(256)) {
                d = complex_join(d, block_union_complex(a, b));
            }
            out.push(d);
        }
        out
    }
}

/// `(sin x, cos x)` for `|x| ≤ 1` by Taylor polynomials through `x^19` and `x^20` (truncation
/// below 1e-19), which vectorise where the library call does not.
#[inline(always)]
pub(crate) fn sin_cos_small(x: f64) -> (f64, f64) {
    const SIN: [f64; 10] = [
        1.0,
        -1.0 / 6.0,
        1.0 / 120.0,
        -1.0 / 5_040.0,
        1.0 / 362_880.0,
        -1.0 / 39_916_800.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 1_307_674_368_000.0,
        1.0 / 355_687_428_096_000.0,
        -1.0 / 121_645_100_408_832_000.0,
    ];
    const COS: [f64; 11] = [
        1.0,
        -1.0 / 2.0,
        1.0 / 24.0,
        -1.0 / 720.0,
        1.0 / 40_320.0,
        -1.0 / 3_628_800.0,
        1.0 / 479_001_600.0,
        -1.0 / 87_178_291_200.0,
        1.0 / 20_922_789_888_000.0,
        -1.0 / 6_402_373_705_728_000.0,
        1.0 / 2_432_902_008_176_640_000.0,
    ];
    let x2 = x * x;
    let s = SIN.iter().rev().fold(0.0, |acc, &c| acc * x2 + c);
    let c = COS.iter().rev().fold(0.0, |acc, &c| acc * x2 + c);
    (x * s, c)
}

/// `1 − Π_j (1 − w_j)` over a block of complex `w_j`, in 4 interleaved lanes.
#[inline(always)]
fn block_union_complex(re: &[f64], im: &[f64]) -> (f64, f64) {
    let mut dr = [0.0f64; 4];
    let mut di = [0.0f64; 4];
    let mut cr = re.chunks_exact(4);
    let mut ci = im.chunks_exact(4);
    for (a, b) in (&mut cr).zip(&mut ci) {
        for l in 0..4 {
            let (one_re, one_im) = (1.0 - dr[l], -di[l]);
            let nr = dr[l] + a[l] * one_re - b[l] * one_im;
            di[l] += a[l] * one_im + b[l] * one_re;
            dr[l] = nr;
        }
    }
    for (l, (&a, &b)) in cr.remainder().iter().zip(ci.remainder()).enumerate() {
        let (one_re, one_im) = (1.0 - dr[l], -di[l]);
        let nr = dr[l] + a * one_re - b * one_im;
        di[l] += a * one_im + b * one_re;
        dr[l] = nr;
    }
    complex_join(
        complex_join((dr[0], di[0]), (dr[1], di[1])),
        complex_join((dr[2], di[2]), (dr[3], di[3])),
    )
}
