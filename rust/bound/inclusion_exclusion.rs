//! The study's inclusion–exclusion sums over all `2^ν` subsets `J` of the modes, kept as an
//! independent cross-check for small `ν`. Subset sums `Π_J` come from two halves of the modes
//! (`2^{ν/2}` sums each), so each is exact to one rounding and no `2^ν` table is stored.

use crate::error::{Error, Result};

/// `2^24` terms take a fraction of a second; the cancellation has cost 7 digits by then.
pub(crate) const MAX_MODES: usize = 24;

/// `(sign, Π_J)` for every subset `J` of `w`, `sign = (−1)^{|J|}`.
fn subset_sums(w: &[f64]) -> Vec<(f64, f64)> {
    let mut out = vec![(1.0, 0.0)];
    for &p in w {
        let more: Vec<(f64, f64)> = out.iter().map(|&(s, x)| (-s, x + p)).collect();
        out.extend(more);
    }
    out
}

fn check(nu: usize) -> Result<()> {
    if nu <= MAX_MODES {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "inclusion-exclusion enumerates 2^nu subsets and is limited to {MAX_MODES} modes, \
             got {nu}: use the integral"
        )))
    }
}

/// `Σ_J (−1)^{|J|} g(Π_J)` over all subsets `J`.
fn alternating_sum(w: &[f64], g: impl Fn(f64) -> f64) -> f64 {
    let (left, right) = w.split_at(w.len() / 2);
    let (a, b) = (subset_sums(left), subset_sums(right));
    let mut total = 0.0;
    for &(sa, xa) in &a {
        let mut inner = 0.0;
        for &(sb, xb) in &b {
            inner += sb * g(xa + xb);
        }
        total += sa * inner;
    }
    total
}

/// `E[G] = Σ_{J≠∅} (−1)^{|J|+1} / Π_J` (the full set contributes `±1`).
pub(crate) fn expected(w: &[f64]) -> Result<f64> {
    check(w.len())?;
    // Σ_J (−1)^{|J|} / Π_J over J ≠ ∅ is −E[G]; the empty set (Π = 0) is left out.
    let with_empty = alternating_sum(w, |x| if x > 0.0 { 1.0 / x } else { 0.0 });
    Ok(-with_empty)
}

/// `P(G ≤ t) = Σ_J (−1)^{|J|} (1 − Π_J)^t`.
pub(crate) fn coverage(w: &[f64], t: u64) -> Result<f64> {
    check(w.len())?;
    let t = t as f64;
    Ok(alternating_sum(w, |x| {
        let rest = 1.0 - x;
        if rest <= 0.0 {
            if t == 0.0 {
                1.0
            } else {
                0.0
            }
        } else {
            (t * (-x).ln_1p()).exp()
        }
    }))
}
