use super::cdf::{contour, dynamic_program, sin_cos_small};
use super::*;

fn study(nu: usize) -> ModeWeights {
    ModeWeights::new(&halfnormal_weights(nu).unwrap(), false).unwrap()
}

fn weights(w: &[f64]) -> ModeWeights {
    ModeWeights::new(w, true).unwrap()
}

/// Deterministic pseudo-random weights (xorshift), spread over two orders of magnitude.
fn random_weights(nu: usize, seed: u64) -> ModeWeights {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let raw: Vec<f64> = (0..nu)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            (4.6 * u).exp()
        })
        .collect();
    weights(&raw)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn harmonic(nu: usize) -> f64 {
    neumaier_sum((1..=nu).rev().map(|k| 1.0 / k as f64))
}

#[test]
fn study_weights_for_three_modes() {
    let w = halfnormal_weights(3).unwrap();
    let expected = [0.5665, 0.3505, 0.0830];
    for (a, b) in w.iter().zip(expected) {
        assert!((a - b).abs() < 5e-4, "{w:?}");
    }
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    assert_eq!(halfnormal_weights(1).unwrap(), vec![1.0]);
    assert!(halfnormal_weights(0).is_err());
}

#[test]
fn published_numbers() {
    // paper.md §4: p = 0.99 with the study's weights.
    let w = study(3);
    let e = expected_chains(&w).unwrap();
    assert!((e - 12.73).abs() < 0.01, "{e}");
    assert_eq!(chains_needed(&w, 0.99, Method::Markov).unwrap(), 1274);
    assert_eq!(chains_needed(&w, 0.99, Method::Exact).unwrap(), 54);
    assert_eq!(chains_needed(&w, 0.99, Method::Union).unwrap(), 54);
    for (nu, markov, exact) in [(2, 798, 34), (5, 2385, 92), (8, 4367, 151), (12, 7423, 233)] {
        let w = study(nu);
        assert_eq!(
            chains_needed(&w, 0.99, Method::Markov).unwrap(),
            markov,
            "nu={nu}"
        );
        assert_eq!(
            chains_needed(&w, 0.99, Method::Exact).unwrap(),
            exact,
            "nu={nu}"
        );
    }
    assert_eq!(chains_needed(&study(12), 0.99, Method::Union).unwrap(), 234);
}

#[test]
fn uniform_weights_give_nu_times_harmonic_number() {
    for nu in [1usize, 2, 3, 7, 10, 100, 1000, 10_000, 100_000] {
        let w = weights(&vec![1.0; nu]);
        let e = expected_chains(&w).unwrap();
        let exact = nu as f64 * harmonic(nu);
        assert!(rel(e, exact) < 1e-12, "nu={nu}: {e} vs {exact}");
    }
}

#[test]
fn integral_agrees_with_inclusion_exclusion() {
    for nu in 1..=14 {
        for seed in 0..3 {
            let w = random_weights(nu, seed * 31 + nu as u64);
            let a = expected_chains(&w).unwrap();
            let b = expected_chains_inclusion_exclusion(&w).unwrap();
            // Inclusion–exclusion loses digits to cancellation, the integral does not.
            assert!(rel(a, b) < 1e-11, "nu={nu} seed={seed}: {a} vs {b}");
        }
        let s = study(nu);
        let (a, b) = (
            expected_chains(&s).unwrap(),
            expected_chains_inclusion_exclusion(&s).unwrap(),
        );
        assert!(rel(a, b) < 1e-12, "study nu={nu}: {a} vs {b}");
    }
}

#[test]
fn expected_chains_is_exact_for_two_modes() {
    // E[G] = 1/p + 1/q − 1 for two modes.
    for p in [0.5, 0.1, 1e-3, 1e-6] {
        let w = weights(&[p, 1.0 - p]);
        let exact = 1.0 / p + 1.0 / (1.0 - p) - 1.0;
        assert!(rel(expected_chains(&w).unwrap(), exact) < 1e-13, "p={p}");
    }
}

#[test]
fn expected_chains_for_many_modes() {
    // Reference from an independent quadrature (trapezoidal rule in t, not ln t, step
    // 0.1/π_min, in numpy): the study's weights for 10^5 modes.
    let e = expected_chains(&study(100_000)).unwrap();
    assert!(rel(e, 3_538_811.982_081_412) < 1e-12, "{e}");
    // Weights spread over two orders of magnitude: the order does not matter, and
    // 1/π_min ≤ E[G] ≤ Σ_j 1/π_j.
    let w = random_weights(50_000, 7);
    let mut reversed = w.as_slice().to_vec();
    reversed.reverse();
    let a = expected_chains(&w).unwrap();
    let b = expected_chains(&ModeWeights::new(&reversed, false).unwrap()).unwrap();
    assert_eq!(a, b);
    assert!(a >= 1.0 / w.as_slice()[0]);
    assert!(a <= w.as_slice().iter().map(|p| 1.0 / p).sum::<f64>());
}

#[test]
fn dynamic_program_agrees_with_inclusion_exclusion() {
    for nu in 2..=10 {
        let w = random_weights(nu, nu as u64);
        for t in [nu, nu + 1, 2 * nu, 30, 77, 128] {
            if t < nu {
                continue;
            }
            let (cover, miss) = dynamic_program(w.as_slice(), t);
            let ie = coverage_probability_inclusion_exclusion(&w, t as u64).unwrap();
            assert!((cover - ie).abs() < 1e-13, "nu={nu} t={t}: {cover} vs {ie}");
            assert!((cover + miss - 1.0).abs() < 1e-14);
        }
    }
}

#[test]
fn contour_agrees_with_dynamic_program() {
    for (nu, seed) in [(2, 1), (3, 2), (5, 3), (12, 4), (40, 5), (120, 6)] {
        let w = random_weights(nu, seed);
        for t in [129u64, 150, 200, 300, 450] {
            let (_, miss) = dynamic_program(w.as_slice(), t as usize);
            if miss < 1e-250 {
                continue;
            }
            let q = contour(w.as_slice(), t);
            assert!(rel(q, miss) < 1e-11, "nu={nu} t={t}: {q} vs {miss}");
        }
    }
    let w = study(12);
    for t in [129u64, 233, 400] {
        let (_, miss) = dynamic_program(w.as_slice(), t as usize);
        assert!(rel(contour(w.as_slice(), t), miss) < 1e-11, "t={t}");
    }
}

#[test]
fn contour_agrees_with_bonferroni_for_many_modes() {
    // Far in the tail P(G > t) = U − B2 + O(B3) with U = Σ (1 − π_j)^t and
    // B2 = Σ_{j<k} (1 − π_j − π_k)^t, and B3/Q is below 1e-14 here.
    for (nu, target) in [(300usize, 1e-9), (1000, 1e-10)] {
        let w = study(nu);
        let p = w.as_slice();
        let t = (((nu as f64).ln() - f64::ln(target)) / p[0]).round() as u64;
        let union = union_miss_bound(&w, t);
        let mut pairs = Vec::with_capacity(nu * nu / 2);
        for j in 0..nu {
            for k in j + 1..nu {
                pairs.push((t as f64 * (-(p[j] + p[k])).ln_1p()).exp());
            }
        }
        let b2 = neumaier_sum(pairs);
        let q = miss_probability(&w, t).unwrap();
        assert!(rel(q, union - b2) < 1e-11, "nu={nu}: {q} vs {}", union - b2);
    }
}

#[test]
fn exact_count_is_the_smallest_sufficient_count() {
    for nu in 2..=9 {
        for seed in 0..3 {
            let w = random_weights(nu, 100 + seed + nu as u64);
            for p in [0.5, 0.9, 0.99, 0.999] {
                let t = chains_needed(&w, p, Method::Exact).unwrap();
                let at = coverage_probability_inclusion_exclusion(&w, t).unwrap();
                let before = coverage_probability_inclusion_exclusion(&w, t - 1).unwrap();
                assert!(at >= p && before < p, "nu={nu} p={p}: t={t} {before} {at}");
                let union = chains_needed(&w, p, Method::Union).unwrap();
                let markov = chains_needed(&w, p, Method::Markov).unwrap();
                assert!(t <= union && union <= markov, "{t} {union} {markov}");
                assert!(union_miss_bound(&w, union) <= 1.0 - p);
                assert!(union_miss_bound(&w, union - 1) > 1.0 - p);
            }
        }
    }
}

#[test]
fn exact_count_for_many_modes_brackets_the_quantile() {
    for nu in [500usize, 5_000] {
        let w = study(nu);
        let t = chains_needed(&w, 0.99, Method::Exact).unwrap();
        assert!(miss_probability(&w, t).unwrap() <= 0.01);
        assert!(miss_probability(&w, t - 1).unwrap() > 0.01);
        assert!(t <= chains_needed(&w, 0.99, Method::Union).unwrap());
    }
}

#[test]
fn coverage_probability_edges() {
    let w = study(4);
    assert_eq!(coverage_probability(&w, 0).unwrap(), 0.0);
    assert_eq!(coverage_probability(&w, 3).unwrap(), 0.0);
    assert!(coverage_probability(&w, 4).unwrap() > 0.0);
    assert_eq!(coverage_probability(&w, 1 << 40).unwrap(), 1.0);
    let one = weights(&[1.0]);
    assert_eq!(coverage_probability(&one, 0).unwrap(), 0.0);
    assert_eq!(coverage_probability(&one, 1).unwrap(), 1.0);
    assert_eq!(expected_chains(&one).unwrap(), 1.0);
    for m in Method::ALL {
        let expect = if m == Method::Markov { 100 } else { 1 };
        assert_eq!(chains_needed(&one, 0.99, m).unwrap(), expect);
    }
    // Monotone in t, across the switch from the dynamic program to the contour.
    let w = study(30);
    let mut last = 0.0;
    for t in 100..160 {
        let c = coverage_probability(&w, t).unwrap();
        assert!(c >= last, "t={t}");
        last = c;
    }
}

#[test]
fn weights_are_validated() {
    let msg = |w: &[f64], normalize: bool| match ModeWeights::new(w, normalize) {
        Err(Error::Weights(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(msg(&[], false).contains("at least one mode"));
    assert!(msg(&[0.5, -0.5, 1.0], false).contains("weights[1] = -0.5 is negative"));
    assert!(msg(&[0.5, 0.0, 0.5], false).contains("weights[1] is zero"));
    assert!(msg(&[0.5, f64::NAN], false).contains("weights[1] = NaN is not finite"));
    assert!(msg(&[0.5, f64::INFINITY], true).contains("not finite"));
    assert!(msg(&[0.5, 0.3, 0.1], false).contains("sum to 0.9"));
    assert!(msg(&[1.0, 1e-300], true).contains("below"));
    let w = ModeWeights::new(&[5.0, 3.0, 2.0], true).unwrap();
    assert_eq!(w.as_slice(), &[0.2, 0.3, 0.5]);
    // Rounding-level deviations are accepted and removed.
    let third = 1.0 / 3.0;
    let w = ModeWeights::new(&[third, third, third], false).unwrap();
    assert!((w.as_slice().iter().sum::<f64>() - 1.0).abs() < 1e-15);
}

#[test]
fn bad_arguments_are_refused() {
    let w = study(3);
    for p in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        assert!(matches!(
            chains_needed(&w, p, Method::Union),
            Err(Error::Value(m)) if m.contains("confidence")
        ));
    }
    assert!(matches!(
        "bogus".parse::<Method>(),
        Err(Error::Unsupported(_))
    ));
    assert_eq!("exact".parse::<Method>().unwrap(), Method::Exact);
    assert!(matches!(
        expected_chains_inclusion_exclusion(&study(25)),
        Err(Error::Unsupported(m)) if m.contains("24")
    ));
    let big = weights(&vec![1.0; MAX_EXACT_MODES + 1]);
    assert!(matches!(
        chains_needed(&big, 0.9, Method::Exact),
        Err(Error::Unsupported(_))
    ));
    assert_eq!(Method::recommended(MAX_EXACT_MODES + 1), Method::Union);
    assert!(matches!(
        chains_needed(&study(3), 1.0 - 1e-16, Method::Markov),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn results_do_not_depend_on_the_order_of_the_weights() {
    let raw = halfnormal_weights(17).unwrap();
    let mut shuffled = raw.clone();
    shuffled.swap(0, 16);
    shuffled.swap(3, 9);
    let (a, b) = (weights(&raw), weights(&shuffled));
    assert_eq!(expected_chains(&a).unwrap(), expected_chains(&b).unwrap());
    for m in Method::ALL {
        assert_eq!(
            chains_needed(&a, 0.95, m).unwrap(),
            chains_needed(&b, 0.95, m).unwrap()
        );
    }
}

#[test]
fn vectorisable_exp_and_sin_cos_match_the_library() {
    let mut worst: f64 = 0.0;
    for i in 0..200_000 {
        let x = -(i as f64) * 700.0 / 200_000.0 - 1e-7 * (i % 13) as f64;
        worst = worst.max(rel(exp_neg(x), x.exp()));
    }
    assert!(worst < 4e-16, "{worst}");
    assert_eq!(exp_neg(0.0), 1.0);
    assert!(exp_neg(-1e6) < 1e-300 && exp_neg(-1e6) >= 0.0);
    for i in 0..20_001 {
        let x = -1.0 + i as f64 * 1e-4;
        let (s, c) = sin_cos_small(x);
        assert!(
            (s - x.sin()).abs() < 2e-16 && (c - x.cos()).abs() < 2e-16,
            "{x}"
        );
    }
}

#[test]
fn portable_and_avx2_builds_agree_bit_for_bit() {
    use std::sync::atomic::Ordering;
    let w = random_weights(20_000, 11);
    let run = || {
        (
            expected_chains(&w).unwrap(),
            chains_needed(&w, 0.99, Method::Union).unwrap(),
            miss_probability(&w, 200_000).unwrap(),
        )
    };
    let wide = run();
    PORTABLE_ONLY.store(true, Ordering::Relaxed);
    let portable = run();
    PORTABLE_ONLY.store(false, Ordering::Relaxed);
    assert_eq!(wide.0.to_bits(), portable.0.to_bits());
    assert_eq!(wide.1, portable.1);
    assert_eq!(wide.2.to_bits(), portable.2.to_bits());
}
