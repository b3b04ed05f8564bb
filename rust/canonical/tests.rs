//! Unit tests of the canonicalization core, against a plain forward pass.

use super::*;
use crate::model::reference_forward;

/// splitmix64: a seeded source with no dependency.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn random_theta(rng: &mut Rng, d: usize) -> Vec<f64> {
    (0..d).map(|_| rng.normal()).collect()
}

/// A random element of the activation's group, as a transform (one row).
fn random_element(rng: &mut Rng, spec: &MlpSpec) -> Transform<f64> {
    let sym = spec.activation.symmetries();
    let mut t = Transform::identity(&Canonicalizer::new(spec), 1);
    let mut at = 0;
    for &m in &spec.sizes[1..spec.sizes.len() - 1] {
        let perm = &mut t.perm[at..at + m];
        for k in (1..m).rev() {
            perm.swap(k, rng.below(k + 1));
        }
        for k in at..at + m {
            if sym.sign_flip || sym.sigmoid_flip {
                t.sign[k] = if rng.uniform() < 0.5 { -1 } else { 1 };
            }
            if sym.positive_scaling {
                t.scale[k] = (4.0 * rng.uniform() - 2.0).exp();
            }
        }
        at += m;
    }
    t
}

fn close(a: &[f64], b: &[f64], rtol: f64) -> bool {
    let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= rtol * scale)
}

fn specs() -> Vec<MlpSpec> {
    let mut out = Vec::new();
    for a in Activation::ALL {
        for sizes in [
            vec![2, 5, 1],
            vec![3, 4, 6, 2],
            vec![8, 16, 16, 16, 1],
            vec![1, 1, 1],
        ] {
            out.push(MlpSpec::new(sizes, a).unwrap());
        }
    }
    out
}

#[test]
fn orbit_members_share_one_representative() {
    let mut rng = Rng(1);
    for spec in specs() {
        let canon = Canonicalizer::new(&spec);
        let d = spec.num_params();
        let theta = random_theta(&mut rng, d);
        let c = canonicalize(&spec, &theta).unwrap();
        let exact = !spec.activation.symmetries().positive_scaling
            && spec.activation != Activation::Sigmoid;
        for _ in 0..5 {
            let g = random_element(&mut rng, &spec);
            let mut moved = theta.clone();
            canon.apply(&mut moved, d, g.as_ref()).unwrap();
            let cm = canonicalize(&spec, &moved).unwrap();
            if exact {
                assert_eq!(c, cm, "{spec:?}");
            } else {
                assert!(close(&c, &cm, 1e-12), "{spec:?}");
            }
        }
    }
}

#[test]
fn output_is_unchanged_and_the_map_is_idempotent() {
    let mut rng = Rng(2);
    for spec in specs() {
        let d = spec.num_params();
        let theta = random_theta(&mut rng, d);
        let c = canonicalize(&spec, &theta).unwrap();
        for _ in 0..4 {
            let x: Vec<f64> = (0..spec.sizes[0]).map(|_| rng.normal()).collect();
            let (y0, y1) = (
                reference_forward(&spec, &theta, &x),
                reference_forward(&spec, &c, &x),
            );
            assert!(close(&y0, &y1, 1e-10), "{spec:?}: {y0:?} vs {y1:?}");
        }
        let cc = canonicalize(&spec, &c).unwrap();
        assert!(close(&c, &cc, 1e-13), "{spec:?}");
    }
}

#[test]
fn transform_applies_bit_for_bit_and_inverts() {
    let mut rng = Rng(3);
    for spec in specs() {
        let canon = Canonicalizer::new(&spec);
        let d = spec.num_params();
        let theta: Vec<f64> = (0..3).flat_map(|_| random_theta(&mut rng, d)).collect();
        let (c, t) = canonicalize_with_transform(&spec, &theta).unwrap();
        let mut applied = theta.clone();
        canon.apply(&mut applied, d, t.as_ref()).unwrap();
        assert_eq!(applied, c, "{spec:?}");
        canon.invert(&mut applied, d, t.as_ref()).unwrap();
        let exact = !spec.activation.symmetries().positive_scaling
            && spec.activation != Activation::Sigmoid;
        if exact {
            assert_eq!(applied, theta, "{spec:?}");
        } else {
            assert!(close(&applied, &theta, 1e-13), "{spec:?}");
        }
    }
}

#[test]
fn tanh_representative_has_positive_sorted_biases() {
    let mut rng = Rng(4);
    let spec = MlpSpec::new(vec![8, 16, 16, 16, 1], Activation::Tanh).unwrap();
    let c = canonicalize(&spec, &random_theta(&mut rng, 705)).unwrap();
    for l in 0..3 {
        let b = &c[spec.bias_offset(l)..spec.bias_offset(l) + 16];
        assert!(b.iter().all(|&v| v > 0.0));
        assert!(b.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn relu_representative_has_unit_incoming_norms() {
    let mut rng = Rng(5);
    let spec = MlpSpec::new(vec![3, 4, 5, 2], Activation::Relu).unwrap();
    let c = canonicalize(&spec, &random_theta(&mut rng, spec.num_params())).unwrap();
    for l in 0..2 {
        let (m_in, m) = (spec.sizes[l], spec.sizes[l + 1]);
        for j in 0..m {
            let mut n = c[spec.bias_offset(l) + j].powi(2);
            for i in 0..m_in {
                n += c[spec.weight_offset(l) + i * m + j].powi(2);
            }
            assert!((n.sqrt() - 1.0).abs() < 1e-14);
        }
    }
}

#[test]
fn zero_bias_defers_to_incoming_and_dead_neurons_sort_last() {
    // sizes [1, 3, 1]: W0 (1x3), b0 (3), W1 (3x1), b1 (1).
    let spec = MlpSpec::new(vec![1, 3, 1], Activation::Tanh).unwrap();
    let theta = [
        -2.0, 0.0, 0.5, // W0: neuron 0 has zero bias, neuron 1 is dead
        0.0, 0.0, -1.0, // b0
        1.0, -3.0, 2.0,  // W1
        0.25, // b1
    ];
    let (c, t) = canonicalize_with_transform(&spec, &theta).unwrap();
    // Neuron 0 flips (its first nonzero, the weight -2, must be positive): (0 | 2 | -1).
    // Neuron 2 flips (bias -1): (1 | -0.5 | -2). Neuron 1 is dead: its outgoing -3 flips.
    assert_eq!(
        c,
        vec![2.0, -0.5, 0.0, 0.0, 1.0, 0.0, -1.0, -2.0, 3.0, 0.25]
    );
    assert_eq!(t.perm, vec![0, 2, 1]);
    assert_eq!(t.sign, vec![-1, -1, -1]);
}

#[test]
fn dead_neurons_are_settled_whatever_the_later_layers_do() {
    let mut rng = Rng(9);
    for a in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
        let spec = MlpSpec::new(vec![2, 4, 3, 2], a).unwrap();
        let canon = Canonicalizer::new(&spec);
        let d = spec.num_params();
        let mut theta = random_theta(&mut rng, d);
        // Hidden neuron 1 of the first layer is dead: no incoming weights, no bias.
        theta[1] = 0.0;
        theta[5] = 0.0;
        theta[8 + 1] = 0.0;
        let c = canonicalize(&spec, &theta).unwrap();
        for _ in 0..20 {
            let g = random_element(&mut rng, &spec);
            let mut moved = theta.clone();
            canon.apply(&mut moved, d, g.as_ref()).unwrap();
            let cm = canonicalize(&spec, &moved).unwrap();
            assert!(close(&c, &cm, 1e-12), "{a:?}");
        }
        assert!(close(&canonicalize(&spec, &c).unwrap(), &c, 1e-13));
        // The dead neuron sits last in its layer.
        assert!((0..2).all(|i| c[i * 4 + 3] == 0.0) && c[spec.bias_offset(0) + 3] == 0.0);
    }
}

#[test]
fn identical_neurons_tie_deterministically() {
    let spec = MlpSpec::new(vec![1, 2, 1], Activation::Tanh).unwrap();
    let theta = [0.5, 0.5, 1.0, 1.0, 2.0, 2.0, 0.0];
    let (c, t) = canonicalize_with_transform(&spec, &theta).unwrap();
    assert_eq!(c, theta.to_vec());
    assert_eq!(t.perm, vec![0, 1]);
}

#[test]
fn sigmoid_flip_moves_outgoing_weights_into_the_next_bias() {
    let spec = MlpSpec::new(vec![1, 1, 1], Activation::Sigmoid).unwrap();
    // w = 1, b = -1, v = 2, c = 0.5; flipped: w = -1, b = 1, v = -2, c = 2.5.
    let c = canonicalize(&spec, &[1.0, -1.0, 2.0, 0.5]).unwrap();
    assert_eq!(c, vec![-1.0, 1.0, -2.0, 2.5]);
}

#[test]
fn float32_agrees_with_float64_for_exact_symmetries() {
    let mut rng = Rng(6);
    let spec = MlpSpec::new(vec![3, 6, 4, 2], Activation::Tanh).unwrap();
    let theta32: Vec<f32> = (0..4 * spec.num_params())
        .map(|_| rng.normal() as f32)
        .collect();
    let theta64: Vec<f64> = theta32.iter().map(|&v| v as f64).collect();
    let c32 = canonicalize(&spec, &theta32).unwrap();
    let c64 = canonicalize(&spec, &theta64).unwrap();
    assert!(c32.iter().zip(&c64).all(|(&a, &b)| a as f64 == b));
}

#[test]
fn positions_keep_their_tail_and_in_place_matches() {
    let mut rng = Rng(7);
    let spec = MlpSpec::new(vec![2, 3, 1], Activation::Tanh).unwrap();
    let canon = Canonicalizer::new(&spec);
    let d = spec.num_params();
    let mut data: Vec<f64> = (0..5 * (d + 1)).map(|_| rng.normal()).collect();
    let mut out = vec![0.0; data.len()];
    canon
        .canonicalize_into(&data, &mut out, d + 1, None)
        .unwrap();
    for r in 0..5 {
        assert_eq!(out[r * (d + 1) + d], data[r * (d + 1) + d]);
        assert_eq!(
            out[r * (d + 1)..r * (d + 1) + d],
            canonicalize(&spec, &data[r * (d + 1)..r * (d + 1) + d]).unwrap()[..]
        );
    }
    canon.canonicalize_in_place(&mut data, d + 1, None).unwrap();
    assert_eq!(data, out);
}

#[test]
fn bad_input_is_refused_and_names_the_sample() {
    let spec = MlpSpec::new(vec![2, 3, 1], Activation::Tanh).unwrap();
    let canon = Canonicalizer::new(&spec);
    let d = spec.num_params();
    let mut data = vec![0.5; 4 * d];
    data[2 * d + 3] = f64::NAN;
    data[3 * d] = f64::INFINITY;
    let err = canonicalize(&spec, &data).unwrap_err();
    assert_eq!(
        err,
        Error::NonFinite {
            what: "theta".into(),
            index: 2
        }
    );
    let before = data.clone();
    assert!(canon.canonicalize_in_place(&mut data, d, None).is_err());
    assert_eq!(
        data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        before.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert!(matches!(
        canonicalize(&spec, &[0.0; 7]),
        Err(Error::Shape(_))
    ));

    let relu = MlpSpec::new(vec![2, 3, 1], Activation::Relu).unwrap();
    let mut sym = Activation::Relu.symmetries();
    sym.sign_flip = true;
    assert!(matches!(
        Canonicalizer::with_symmetries(&relu, sym),
        Err(Error::Unsupported(_))
    ));
    let canon = Canonicalizer::new(&relu);
    let mut t = Transform::<f64>::identity(&canon, 1);
    t.sign[1] = -1;
    let mut theta = vec![1.0; d];
    assert!(matches!(
        canon.apply(&mut theta, d, t.as_ref()),
        Err(Error::Unsupported(_))
    ));
    t.sign[1] = 1;
    t.perm[0] = 1;
    assert!(matches!(
        canon.apply(&mut theta, d, t.as_ref()),
        Err(Error::Value(_))
    ));
    assert_eq!(theta, vec![1.0; d]);
}

#[test]
fn removing_only_permutations_leaves_signs_alone() {
    let mut rng = Rng(8);
    let spec = MlpSpec::new(vec![2, 4, 1], Activation::Tanh).unwrap();
    let sym = Symmetries {
        permutation: true,
        sign_flip: false,
        positive_scaling: false,
        sigmoid_flip: false,
    };
    let canon = Canonicalizer::with_symmetries(&spec, sym).unwrap();
    let theta = random_theta(&mut rng, spec.num_params());
    let mut out = vec![0.0; theta.len()];
    canon
        .canonicalize_into(&theta, &mut out, theta.len(), None)
        .unwrap();
    let mut a: Vec<u64> = theta.iter().map(|v| v.to_bits()).collect();
    let mut b: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
    let bias = &out[spec.bias_offset(0)..spec.bias_offset(0) + 4];
    assert!(bias.windows(2).all(|w| w[0] <= w[1]));
}
