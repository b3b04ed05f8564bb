//! How many independent chains visit every functionally distinct mode (paper §4).
//!
//! A chain ends in mode `j` with probability `π_j`; the number `G` of chains until all `ν` modes
//! have been visited is a coupon collector with unequal probabilities. This module gives
//! - `E[G]` ([`expected_chains`]) from the Poisson integral `∫_0^∞ (1 − Π_j (1 − e^{−π_j t})) dt`
//!   (`integral.rs`), with the study's inclusion–exclusion sum
//!   ([`expected_chains_inclusion_exclusion`]) kept as a cross-check for `ν ≤ 24`;
//! - the exact distribution `P(G ≤ t)` ([`coverage_probability`], [`miss_probability`]): a
//!   dynamic program of positive terms for `t ≤ 128`, a saddle-point Cauchy integral beyond
//!   (`cdf.rs`);
//! - chain counts for a confidence `p` ([`chains_needed`]): the study's Markov bound
//!   `⌈E[G]/(1 − p)⌉`, the union bound (smallest `t` with `Σ_j (1 − π_j)^t ≤ 1 − p`) and the
//!   exact quantile (smallest `t` with `P(G ≤ t) ≥ p`). Both `union` and `exact` are rigorous;
//!   `exact ≤ union ≤ markov`.
//!
//! Every function takes the weights as given (any order; they are validated and sorted, so the
//! result does not depend on the order). Large `ν` is split over threads with rayon.

/// Defines `fn $name` twice over: portable (SSE2) and AVX2, which runs where the CPU has it. The
/// loops over the weights then vectorise four lanes wide instead of two; the body must reach its
/// loops through `#[inline(always)]` helpers only (callees do not inherit the wider target).
macro_rules! with_avx2 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn portable($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    portable($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2")
                    && !$crate::bound::PORTABLE_ONLY.load(std::sync::atomic::Ordering::Relaxed)
                {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

mod cdf;
mod inclusion_exclusion;
mod integral;

/// Set by a test to run the portable builds, which must agree bit for bit with the AVX2 ones.
pub(crate) static PORTABLE_ONLY: AtomicBool = AtomicBool::new(false);

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::AtomicBool;

use rayon::prelude::*;

use crate::error::{Error, Result};

/// `|Σ π − 1|` above which unnormalised weights are refused (they are rescaled exactly otherwise).
pub const SUM_TOLERANCE: f64 = 1e-9;
/// The smallest weight (after normalisation) accepted; below it `E[G] ≥ 1/π` leaves `f64`.
pub const MIN_WEIGHT: f64 = 1e-250;
/// The largest `ν` for the exact distribution and quantile (time grows linearly with `ν`: about
/// a second at this size).
pub const MAX_EXACT_MODES: usize = 1_000_000;
/// The largest `ν` for inclusion–exclusion (`2^ν` terms).
pub const MAX_INCLUSION_EXCLUSION_MODES: usize = inclusion_exclusion::MAX_MODES;
/// Chain counts are integers held exactly by an `f64`.
pub const MAX_CHAINS: u64 = 1 << 53;
/// Below this many modes the loops stay on the calling thread (rayon would cost more than it saves).
pub(crate) const PARALLEL_MIN: usize = 8192;
/// Weights per rayon task.
pub(crate) const CHUNK: usize = 4096;
/// The study's default weights: the half-normal density on `linspace(0, HALFNORMAL_END, ν)`.
pub const HALFNORMAL_END: f64 = 1.96;

/// How [`chains_needed`] turns the weights into a number of chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The smallest `t` with `P(G ≤ t) ≥ p`, from the exact distribution (`ν ≤ MAX_EXACT_MODES`).
    ///
    /// `P(G > t)` is computed to about 1e-12 relative and compared with `1 − p` with a 1e-10
    /// margin on the safe side, so the count is exact to the chain whenever one more chain
    /// changes `P(G > t)` by more than that (the rarest weight above about 1e-10, counts below
    /// about 10^10); beyond, it can exceed the true quantile by about a relative 1e-10, never
    /// fall below it.
    Exact,
    /// The smallest `t` with `Σ_j (1 − π_j)^t ≤ 1 − p`: never below the exact count, any `ν`.
    Union,
    /// The study's `⌈E[G] / (1 − p)⌉` (Markov's inequality): 20–30 times the exact count.
    Markov,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Exact, Method::Union, Method::Markov];

    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Union => "union",
            Method::Markov => "markov",
        }
    }

    /// The tightest rigorous method available for `nu` modes.
    pub fn recommended(nu: usize) -> Method {
        if nu <= MAX_EXACT_MODES {
            Method::Exact
        } else {
            Method::Union
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "unknown chain-count method {s:?}: use one of \"exact\", \"union\", \"markov\""
                ))
            })
    }
}

/// Validated mode probabilities: positive, finite, summing to 1, sorted ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeWeights(Vec<f64>);

impl ModeWeights {
    /// Check `weights` and sort a copy. Weights within [`SUM_TOLERANCE`] of summing to 1 are
    /// rescaled exactly; others are refused unless `normalize` asks to rescale them.
    pub fn new(weights: &[f64], normalize: bool) -> Result<ModeWeights> {
        if weights.is_empty() {
            return Err(Error::Weights(
                "no mode weights: need the probability of at least one mode".into(),
            ));
        }
        for (i, &w) in weights.iter().enumerate() {
            if !w.is_finite() {
                return Err(Error::Weights(format!(
                    "weights[{i}] = {w} is not finite: mode weights must be finite probabilities"
                )));
            }
            if w < 0.0 {
                return Err(Error::Weights(format!(
                    "weights[{i}] = {w} is negative: mode weights are probabilities"
                )));
            }
            if w == 0.0 {
                return Err(Error::Weights(format!(
                    "weights[{i}] is zero: every mode needs a positive probability (drop modes \
                     that chains cannot reach)"
                )));
            }
        }
        // Scale by the largest weight first so that the sum cannot overflow.
        let top = weights.iter().copied().fold(0.0, f64::max);
        let sum = top * neumaier_sum(weights.iter().map(|&w| w / top));
        if !normalize && (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(Error::Weights(format!(
                "mode weights sum to {sum}, not 1: pass probabilities, or ask to normalize them \
                 (normalize=True, --normalize)"
            )));
        }
        let mut w: Vec<f64> = weights.iter().map(|&x| (x / top) / (sum / top)).collect();
        w.sort_by(f64::total_cmp);
        if let Some(i) = w.iter().position(|&x| x < MIN_WEIGHT) {
            return Err(Error::Weights(format!(
                "a mode weight of {:e} (after normalizing) is below {MIN_WEIGHT:e}: E[G] would \
                 not fit a double",
                w[i]
            )));
        }
        Ok(ModeWeights(w))
    }

    /// The probabilities, ascending.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    /// The number of modes `ν`.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The study's default weights: `π_j ∝` the HalfNormal(1) density at `linspace(0, 1.96, nu)`,
/// normalised. `nu = 3` gives `(0.567, 0.350, 0.083)`.
pub fn halfnormal_weights(nu: usize) -> Result<Vec<f64>> {
    if nu == 0 {
        return Err(Error::Value(
            "halfnormal_weights: need at least one mode (nu >= 1)".into(),
        ));
    }
    // numpy's linspace: start + i * step, with the last point exactly the end.
    let step = if nu > 1 {
        HALFNORMAL_END / (nu - 1) as f64
    } else {
        0.0
    };
    let x = |i: usize| {
        if i + 1 == nu && nu > 1 {
            HALFNORMAL_END
        } else {
            i as f64 * step
        }
    };
    let density: Vec<f64> = (0..nu).map(|i| (-0.5 * x(i) * x(i)).exp()).collect();
    let sum = neumaier_sum(density.iter().copied());
    Ok(density.into_iter().map(|d| d / sum).collect())
}

/// `E[G]`, the expected number of chains until every mode has been visited.
///
/// Trapezoidal rule in `ln t` on the Poisson integral with step halving until two successive
/// sums agree to 1e-7 (the error of the last is then about its square); relative error about
/// 1e-13 for any `ν` (checked against `ν·H_ν` for uniform weights up to `ν = 10^5`).
pub fn expected_chains(w: &ModeWeights) -> Result<f64> {
    integral::expected(w.as_slice())
}

/// `E[G]` by the study's inclusion–exclusion sum over all `2^ν` subsets `J`:
/// `Σ_{J≠∅} (−1)^{|J|+1} / Π_J`. A cross-check for `ν ≤ 24`; it loses about `log10(2^ν)` digits
/// to cancellation.
pub fn expected_chains_inclusion_exclusion(w: &ModeWeights) -> Result<f64> {
    inclusion_exclusion::expected(w.as_slice())
}

/// `P(G > t)`: the probability that `t` independent chains miss at least one mode.
///
/// Exact (relative error about 1e-12) for `ν ≤ MAX_EXACT_MODES` and any `t`: a dynamic program of
/// positive terms for `t ≤ 128`, a saddle-point Cauchy integral for larger `t`. Values below about
/// 1e-290 underflow to 0.
pub fn miss_probability(w: &ModeWeights, t: u64) -> Result<f64> {
    check_exact_size(w.len(), "the exact distribution of G")?;
    Ok(cdf::miss_probability(w.as_slice(), t))
}

/// `P(G ≤ t)`: the probability that `t` independent chains visit every mode (`1 −`
/// [`miss_probability`], absolute error about 1e-15).
pub fn coverage_probability(w: &ModeWeights, t: u64) -> Result<f64> {
    Ok(1.0 - miss_probability(w, t)?)
}

/// `P(G ≤ t)` by inclusion–exclusion, `Σ_J (−1)^{|J|} (1 − Π_J)^t` (`ν ≤ 24`): a cross-check
/// with absolute error about `2^ν · 1e-16`.
pub fn coverage_probability_inclusion_exclusion(w: &ModeWeights, t: u64) -> Result<f64> {
    inclusion_exclusion::coverage(w.as_slice(), t)
}

/// The union bound on [`miss_probability`]: `Σ_j (1 − π_j)^t`.
pub fn union_miss_bound(w: &ModeWeights, t: u64) -> f64 {
    if w.len() == 1 {
        return if t == 0 { 1.0 } else { 0.0 };
    }
    let logs = log_complements(w.as_slice());
    union_sums(&logs, t as f64).0
}

/// The number of independent chains that visit every mode with probability at least
/// `confidence`, by `method`.
pub fn chains_needed(w: &ModeWeights, confidence: f64, method: Method) -> Result<u64> {
    check_confidence(confidence)?;
    let miss = 1.0 - confidence;
    match method {
        Method::Markov => {
            let count = (expected_chains(w)? / miss).ceil();
            to_count(count, "the Markov bound")
        }
        Method::Union => union_count(w.as_slice(), miss),
        Method::Exact => {
            check_exact_size(w.len(), "the exact count")?;
            exact_count(w.as_slice(), miss)
        }
    }
}

/// `confidence` must be a probability strictly between 0 and 1.
pub fn check_confidence(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(Error::Value(format!(
            "confidence must lie strictly between 0 and 1, got {confidence}"
        )))
    }
}

fn check_exact_size(nu: usize, what: &str) -> Result<()> {
    if nu <= MAX_EXACT_MODES {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "{what} is computed for up to {MAX_EXACT_MODES} modes, got {nu}: use the union bound, \
             which is rigorous for any number of modes"
        )))
    }
}

fn to_count(count: f64, what: &str) -> Result<u64> {
    if count.is_finite() && count <= MAX_CHAINS as f64 {
        Ok(count.max(1.0) as u64)
    } else {
        Err(Error::Unsupported(format!(
            "{what} asks for more than 2^53 chains ({count:e}): lower the confidence"
        )))
    }
}

/// `ln(1 − π_j)` for every mode (`−∞` for a single mode of probability 1).
fn log_complements(w: &[f64]) -> Vec<f64> {
    w.iter().map(|&p| (-p).ln_1p()).collect()
}

/// `(Σ_j e^{t l_j}, Σ_j l_j e^{t l_j})`: the union bound at `t` and its derivative in `t`.
fn union_sums(logs: &[f64], t: f64) -> (f64, f64) {
    if t == 0.0 {
        return (logs.len() as f64, logs.iter().sum());
    }
    if logs.len() < PARALLEL_MIN {
        return union_part(logs, t);
    }
    // Collect the chunk sums in order so that the result does not depend on scheduling.
    let parts: Vec<(f64, f64)> = logs.par_chunks(CHUNK).map(|l| union_part(l, t)).collect();
    parts
        .into_iter()
        .fold((0.0, 0.0), |(u, du), (a, b)| (u + a, du + b))
}

with_avx2! {
    fn union_part(logs: &[f64], t: f64) -> (f64, f64) {
        // Terms into a buffer (a loop that vectorises), then sums in 8 lanes (so does that).
        let mut terms = [0.0f64; 256];
        let (mut u, mut du) = ([0.0f64; 8], [0.0f64; 8]);
        for block in logs.chunks(256) {
            let terms = &mut terms[..block.len()];
            for (term, &l) in terms.iter_mut().zip(block) {
                *term = exp_neg(t * l);
            }
            let mut lanes = block.chunks_exact(8).zip(terms.chunks_exact(8));
            for (l, e) in &mut lanes {
                for k in 0..8 {
                    u[k] += e[k];
                    du[k] += l[k] * e[k];
                }
            }
            let tail = block.len() - block.len() % 8;
            for (l, e) in block[tail..].iter().zip(&terms[tail..]) {
                u[0] += e;
                du[0] += l * e;
            }
        }
        (u.iter().sum(), du.iter().sum())
    }
}

/// The smallest `t` with `Σ_j (1 − π_j)^t ≤ miss`.
fn union_count(w: &[f64], miss: f64) -> Result<u64> {
    if w.len() == 1 {
        return Ok(1);
    }
    let logs = log_complements(w);
    // ln U(t) is convex and decreasing, and U(t) ≥ (1 − π_min)^t, so Newton's method started at
    // the root of the latter approaches the root from the left and never overshoots it.
    let target = miss.ln();
    let mut t = target / logs[0];
    for _ in 0..200 {
        let (u, du) = union_sums(&logs, t);
        let g = u.ln() - target;
        let step = -g / (du / u);
        if step.is_nan() || step <= 1e-9 * t {
            break;
        }
        t += step;
    }
    let mut n = to_count(t.ceil(), "the union bound")?;
    let above = |n: u64| union_sums(&logs, n as f64).0 > miss;
    while above(n) {
        n += 1;
    }
    while n > 1 && !above(n - 1) {
        n -= 1;
    }
    Ok(n)
}

/// Decisions `P(G > t) ≤ miss` are taken with this relative margin on the safe side (100 times
/// the error of `P(G > t)`), so that rounding never makes the exact count too small.
const EXACT_MARGIN: f64 = 1e-10;

/// The smallest `t` with `P(G > t) ≤ miss`, searched between a lower bound and the union count.
fn exact_count(w: &[f64], miss: f64) -> Result<u64> {
    let nu = w.len() as u64;
    if nu == 1 {
        return Ok(1);
    }
    let mut hi = union_count(w, miss)?;
    // Lower bound: P(G > t) ≥ (1 − π_min)^t > miss below t0, and G ≥ ν.
    let t0 = (miss.ln() / (-w[0]).ln_1p()).ceil() - 1.0;
    let mut lo = (nu - 1).max(t0.clamp(0.0, hi as f64) as u64);
    if lo + 1 >= hi {
        return Ok(hi);
    }
    // Accept P(G > t) ≤ miss (1 − margin); aim the search at that threshold.
    let threshold = miss * (1.0 - EXACT_MARGIN);
    let target = threshold.ln();
    let log_gap = |q: f64| q.max(f64::MIN_POSITIVE).ln() - target;
    let q_hi = cdf::miss_probability(w, hi);
    if q_hi > threshold {
        // Only rounding can put the exact value at the union bound: keep the union count.
        return Ok(hi);
    }
    // ln P(G > t) is close to linear in t (its tail is dominated by the rarest modes), and the
    // derivative of ln U at `hi` is a noise-free estimate of its slope; secants replace it once
    // two values differ by far more than their rounding. Candidates stay inside the bracket, and
    // bisection takes over if this stalls.
    let logs = log_complements(w);
    let (u, du) = union_sums(&logs, hi as f64);
    let mut slope = du / u;
    let mut last = (hi as f64, log_gap(q_hi));
    for step in 0.. {
        if hi - lo <= 1 {
            break;
        }
        let root = last.0 - last.1 / slope;
        let c = if step >= 12 || !root.is_finite() {
            lo + (hi - lo) / 2
        } else {
            (root.ceil().max(0.0) as u64).clamp(lo + 1, hi - 1)
        };
        let q = cdf::miss_probability(w, c);
        let point = (c as f64, log_gap(q));
        if (point.1 - last.1).abs() > 1e-6 {
            slope = (point.1 - last.1) / (point.0 - last.0);
        }
        last = point;
        if q <= threshold {
            hi = c;
        } else {
            lo = c;
        }
    }
    Ok(hi)
}

/// `e^x` for `x ≤ 0`, written so that loops over it vectorise (std's `exp` is a library call):
/// Cody–Waite reduction `x = k ln 2 + r`, a degree-13 Taylor polynomial on `|r| ≤ ln 2 / 2`, and
/// `2^k` added to the exponent bits. Relative error below 4e-16; arguments below −700 give
/// `e^{−700}` (about 1e-304), which the sums here treat as the zero it nearly is.
#[inline(always)]
pub(crate) fn exp_neg(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2: k * LN2_HI is exact for |k| < 2^11.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    // Adding 1.5·2^52 rounds to an integer and leaves it in the low mantissa bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    let x = if x > -700.0 { x } else { -700.0 };
    let shifted = x * LOG2_E + SHIFT;
    let k = shifted - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    f64::from_bits(p.to_bits().wrapping_add(shifted.to_bits() << 52))
}

/// Compensated (Neumaier) summation: the chain counts sum many terms of one sign.
pub(crate) fn neumaier_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for v in values {
        let t = sum + v;
        comp += if sum.abs() >= v.abs() {
            (sum - t) + v
        } else {
            (v - t) + sum
        };
        sum = t;
    }
    sum + comp
}

/// `1 − Π_j (1 − z_j)` over a short block, in 8 interleaved lanes (which vectorise, and keep each
/// running product short): adding `z` to a union probability `d` is `d + z (1 − d)`, a sum of
/// non-negative terms, so the result keeps its relative accuracy when it is small.
#[inline(always)]
pub(crate) fn block_union(z: &[f64]) -> f64 {
    let mut d = [0.0f64; 8];
    let mut chunks = z.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            d[l] += c[l] * (1.0 - d[l]);
        }
    }
    for (l, &x) in chunks.remainder().iter().enumerate() {
        d[l] += x * (1.0 - d[l]);
    }
    let join = |a: f64, b: f64| a + b * (1.0 - a);
    join(
        join(join(d[0], d[1]), join(d[2], d[3])),
        join(join(d[4], d[5]), join(d[6], d[7])),
    )
}

/// `Σ_j ln(1 − z_j)`: blocks of 256 by [`block_union`], one logarithm per block.
#[inline(always)]
pub(crate) fn log_survival(z: &[f64]) -> f64 {
    let mut sum = 0.0;
    for block in z.chunks(256) {
        sum += (-block_union(block)).ln_1p();
    }
    sum
}

#[cfg(test)]
mod tests;
