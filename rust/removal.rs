//! Data-driven, geometry-respecting symmetry removal across a batch of samples (paper.md §7).
//!
//! Input: `n` samples in the flat layout, `(n, d)` row-major. Output: the same samples, each
//! moved by group actions only (permutations, sign or sigmoid flips, positive rescalings) so
//! that the same position means the same "role" in every sample: every sample's function is
//! unchanged.
//!
//! Two methods:
//! - [`Method::Assignment`] (ours): per hidden layer, each sample's neurons are matched to
//!   per-layer templates by optimal assignment, with the sign decided jointly (cost
//!   `min_{s=±1} ‖sφ − t‖²`), and the templates are the means of what was matched; the two
//!   steps alternate until the labels settle (at most one sample in 10,000 changes, or the cost
//!   improves by less than 1e-4 of itself). Several seeded starts (k-means++-style) are scored
//!   on a subsample. ReLU-family networks are first brought to unit-norm incoming weights and
//!   bias (the positive rescaling orbit's representative). Time and memory are linear in `n`.
//! - [`Method::Study`]: the study's max-margin signs and greedy constrained k-NN vote, for
//!   comparison (see `study`).
//!
//! The quality number for both is the same: the mean over samples, hidden layers and neurons of
//! `‖φ − t‖²`, with `t` the mean of that position's neuron vectors over the batch
//! ([`template_distance`]); lower is better.

mod assignment;
mod lap;
mod neurons;
mod rng;
mod study;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::MlpSpec;

/// Which removal algorithm to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Assignment,
    Study,
}

impl Method {
    pub fn parse(name: &str) -> Result<Method> {
        match name {
            "assignment" => Ok(Method::Assignment),
            "study" => Ok(Method::Study),
            _ => Err(Error::Value(format!(
                "unknown removal method {name:?}; expected \"assignment\" or \"study\""
            ))),
        }
    }
}

/// The discrete flip a hidden neuron admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flip {
    None,
    /// Odd activations: negate the whole neuron.
    Sign,
    /// `σ(−z) = 1 − σ(z)`: negate, and move the outgoing weights into the next bias.
    Sigmoid,
}

/// Settings of the study's method (paper.md §7 values by default).
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Neighbours per neuron in the similarity graph.
    pub k: usize,
    /// Width of the Gaussian similarity (on standardized neuron vectors).
    pub sigma: f64,
    /// Rounds of the constrained vote.
    pub iterations: usize,
    pub svm_restarts: usize,
    pub svm_epochs: usize,
    pub svm_batch: usize,
    pub svm_lr: f64,
    pub svm_c: f64,
}

impl Default for StudyOptions {
    fn default() -> StudyOptions {
        StudyOptions {
            k: 1024,
            sigma: 1.0,
            iterations: 256,
            svm_restarts: 4,
            svm_epochs: 32,
            svm_batch: 16,
            svm_lr: 0.1,
            svm_c: 1.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RemovalOptions {
    pub method: Method,
    /// Most assignment/update rounds per layer and sweep (ours).
    pub iterations: usize,
    /// Seeded starts per layer (ours).
    pub restarts: usize,
    /// Most refinement sweeps over all layers (ours, networks with two or more hidden layers).
    pub max_sweeps: usize,
    pub seed: u64,
    pub study: StudyOptions,
}

impl Default for RemovalOptions {
    fn default() -> RemovalOptions {
        RemovalOptions {
            method: Method::Assignment,
            iterations: 50,
            restarts: 4,
            max_sweeps: 10,
            seed: 0,
            study: StudyOptions::default(),
        }
    }
}

/// The symmetry-free batch and how well it lines up.
#[derive(Debug, Clone)]
pub struct Removal {
    /// `(n, d)` row-major, every row equioutput to the same input row.
    pub theta: Vec<f64>,
    /// [`template_distance`] per hidden layer, before and after.
    pub quality_before: Vec<f64>,
    pub quality_after: Vec<f64>,
    /// Assignment/update rounds run in all (ours) or vote rounds (study).
    pub iterations: usize,
    /// Sweeps over the layers (ours; 1 for one hidden layer).
    pub sweeps: usize,
    /// Whether the labels settled before the round and sweep limits (ours; study: always false).
    pub converged: bool,
}

/// Overall quality: the per-layer values weighted by the layer widths (a mean over neurons).
pub fn overall_quality(spec: &MlpSpec, per_layer: &[f64]) -> f64 {
    let widths = &spec.sizes[1..spec.sizes.len() - 1];
    let total: usize = widths.iter().sum();
    if total == 0 {
        return 0.0;
    }
    widths
        .iter()
        .zip(per_layer)
        .map(|(&m, q)| m as f64 * q)
        .sum::<f64>()
        / total as f64
}

/// Check a batch `(n, d)` for shape and finiteness.
pub fn check_batch(theta: &[f64], n: usize, d: usize, what: &str) -> Result<()> {
    if theta.len() != n * d {
        return Err(Error::Shape(format!(
            "{what} has {} values, expected {n} samples of {d} parameters",
            theta.len()
        )));
    }
    if let Some(i) = theta
        .par_chunks(d.max(1))
        .position_first(|r| r.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::NonFinite {
            what: what.to_string(),
            index: i,
        });
    }
    Ok(())
}

/// Mean squared distance of every hidden neuron's vector `φ = (incoming, bias, outgoing)` to its
/// position's mean over the batch, per hidden layer. Shape `(num_hidden,)`.
pub fn template_distance(theta: &[f64], n: usize, spec: &MlpSpec) -> Result<Vec<f64>> {
    let d = spec.num_params();
    check_batch(theta, n, d, "theta")?;
    Ok(spec
        .hidden_layers()
        .map(|layer| assignment::layer_spread(theta, n, d, &layer))
        .collect())
}

fn flip_of(spec: &MlpSpec) -> Flip {
    let sym = spec.activation.symmetries();
    if sym.sign_flip {
        Flip::Sign
    } else if sym.sigmoid_flip {
        Flip::Sigmoid
    } else {
        Flip::None
    }
}

fn normalize_scales(x: &mut [f64], spec: &MlpSpec) {
    if spec.activation.symmetries().positive_scaling && spec.num_params() > 0 {
        // Forward, so each layer's incoming weights are final before its norms are taken.
        x.par_chunks_mut(spec.num_params()).for_each(|xs| {
            for layer in spec.hidden_layers() {
                layer.normalize_scale(xs);
            }
        });
    }
}

/// Each sample aligned to its nearest reference network.
#[derive(Debug, Clone)]
pub struct Alignment {
    /// `(n, d)`: every row equioutput to the same input row.
    pub theta: Vec<f64>,
    /// `(n,)`: index of the nearest reference.
    pub nearest: Vec<usize>,
    /// `(n,)`: squared Euclidean distance to it after alignment.
    pub sq_distance: Vec<f64>,
}

/// Align every sample of `theta` (`(n, d)`) to each of the `k` reference networks `refs`
/// (`(k, d)`, e.g. one representative per mode) by the same layer-wise optimal assignment as
/// the assignment method (templates = the reference's neurons), and keep the nearest. One
/// global template set can leave a minor mode's ambiguous neurons (near zero, say) flipped in
/// some samples and not others; aligning to the mode's own representative settles them.
pub fn align_to_references(
    theta: &[f64],
    n: usize,
    spec: &MlpSpec,
    refs: &[f64],
    k: usize,
    max_sweeps: usize,
) -> Result<Alignment> {
    let d = spec.num_params();
    check_batch(theta, n, d, "theta")?;
    check_batch(refs, k, d, "references")?;
    if k == 0 {
        return Err(Error::Value(
            "align_to_references needs at least one reference".into(),
        ));
    }
    let mut x = theta.to_vec();
    let mut r = refs.to_vec();
    normalize_scales(&mut x, spec);
    normalize_scales(&mut r, spec);
    if spec.num_hidden() == 0 || n == 0 {
        let sq_distance = x
            .chunks(d.max(1))
            .map(|row| {
                row.iter()
                    .zip(&r[..d])
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum()
            })
            .collect();
        return Ok(Alignment {
            theta: x,
            nearest: vec![0; n],
            sq_distance,
        });
    }
    let a = assignment::align_to_references(&x, n, spec, flip_of(spec), &r, max_sweeps);
    Ok(Alignment {
        theta: a.theta,
        nearest: a.nearest,
        sq_distance: a.sq_distance,
    })
}

/// Remove the symmetries of a batch of samples; see the module documentation.
pub fn remove_symmetries(
    theta: &[f64],
    n: usize,
    spec: &MlpSpec,
    opts: &RemovalOptions,
) -> Result<Removal> {
    if opts.iterations == 0 || opts.restarts == 0 {
        return Err(Error::Value(format!(
            "iterations and restarts must be positive, got {} and {}",
            opts.iterations, opts.restarts
        )));
    }
    if opts.method == Method::Study {
        let s = &opts.study;
        if s.k == 0 || !(s.sigma > 0.0 && s.sigma.is_finite()) || s.svm_batch == 0 {
            return Err(Error::Value(format!(
                "study options need k > 0, sigma > 0 and svm_batch > 0, got k={}, sigma={}, svm_batch={}",
                s.k, s.sigma, s.svm_batch
            )));
        }
        study::check_size(n, spec, s)?;
    }
    let quality_before = template_distance(theta, n, spec)?;
    let mut x = theta.to_vec();
    let mut out = Removal {
        theta: Vec::new(),
        quality_before,
        quality_after: Vec::new(),
        iterations: 0,
        sweeps: 0,
        converged: true,
    };
    if n > 0 && spec.num_hidden() > 0 {
        normalize_scales(&mut x, spec);
        let flip = flip_of(spec);
        match opts.method {
            Method::Assignment => {
                let st = assignment::run(&mut x, n, spec, flip, opts);
                out.iterations = st.iterations;
                out.sweeps = st.sweeps;
                out.converged = st.converged;
            }
            Method::Study => {
                study::run(&mut x, n, spec, flip, &opts.study, opts.seed);
                out.iterations = opts.study.iterations * spec.num_hidden();
                out.sweeps = 1;
                out.converged = false;
            }
        }
    }
    out.quality_after = template_distance(&x, n, spec)?;
    out.theta = x;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::rng::Rng;
    use super::*;
    use crate::model::{reference_forward, Activation};

    /// Forward pass of one sample on inputs `xs` (`(k, in)`), for checking equioutput.
    fn forward(spec: &MlpSpec, theta: &[f64], xs: &[f64]) -> Vec<f64> {
        xs.chunks(spec.sizes[0])
            .flat_map(|x| reference_forward(spec, theta, x))
            .collect()
    }

    /// `modes` random networks, each copied `copies` times under random perms/flips (+ noise).
    fn planted(spec: &MlpSpec, modes: usize, copies: usize, noise: f64, seed: u64) -> Vec<f64> {
        let d = spec.num_params();
        let mut rng = Rng::new(seed);
        let centers: Vec<Vec<f64>> = (0..modes)
            .map(|_| (0..d).map(|_| 1.5 * rng.normal()).collect())
            .collect();
        let flip = spec.activation.symmetries().sign_flip;
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for c in 0..modes * copies {
            let mut x: Vec<f64> = centers[c % modes]
                .iter()
                .map(|v| v + noise * rng.normal())
                .collect();
            for layer in spec.hidden_layers() {
                let mut src: Vec<u32> = (0..layer.m as u32).collect();
                rng.shuffle(&mut src);
                let sign: Vec<i8> = (0..layer.m)
                    .map(|_| if flip && rng.uniform() < 0.5 { -1 } else { 1 })
                    .collect();
                layer.apply(&mut x, &src, &sign, false, &mut scratch);
            }
            out.extend(x);
        }
        out
    }

    fn assert_equioutput(spec: &MlpSpec, a: &[f64], b: &[f64], tol: f64) {
        let d = spec.num_params();
        let mut rng = Rng::new(99);
        let xs: Vec<f64> = (0..5 * spec.sizes[0]).map(|_| rng.normal()).collect();
        for (ra, rb) in a.chunks(d).zip(b.chunks(d)) {
            for (u, v) in forward(spec, ra, &xs).iter().zip(forward(spec, rb, &xs)) {
                assert!((u - v).abs() < tol, "{u} vs {v}");
            }
        }
    }

    #[test]
    fn assignment_preserves_functions_and_recovers_planted_modes() {
        for sizes in [vec![1, 3, 1], vec![2, 4, 3, 1]] {
            let spec = MlpSpec::new(sizes, Activation::Tanh).unwrap();
            let n = 3 * 40;
            let theta = planted(&spec, 3, 40, 0.01, 5);
            let r = remove_symmetries(&theta, n, &spec, &RemovalOptions::default()).unwrap();
            assert_equioutput(&spec, &theta, &r.theta, 1e-12);
            let before = overall_quality(&spec, &r.quality_before);
            let after = overall_quality(&spec, &r.quality_after);
            assert!(after < 0.5 * before, "{before} -> {after}");
            // Copies of the same planted network end up equal up to the noise.
            let d = spec.num_params();
            for i in 0..n - 3 {
                let (a, b) = (
                    &r.theta[i * d..(i + 1) * d],
                    &r.theta[(i + 3) * d..(i + 4) * d],
                );
                let gap = a
                    .iter()
                    .zip(b)
                    .map(|(u, v)| (u - v).abs())
                    .fold(0.0, f64::max);
                assert!(gap < 0.1, "sample {i}: copies differ by {gap}");
            }
        }
    }

    #[test]
    fn every_activation_keeps_the_function() {
        for act in Activation::ALL {
            let spec = MlpSpec::new(vec![2, 3, 4, 2], act).unwrap();
            let mut rng = Rng::new(3);
            let n = 30;
            let theta: Vec<f64> = (0..n * spec.num_params()).map(|_| rng.normal()).collect();
            for method in [Method::Assignment, Method::Study] {
                let opts = RemovalOptions {
                    method,
                    study: StudyOptions {
                        k: 16,
                        iterations: 8,
                        ..StudyOptions::default()
                    },
                    ..RemovalOptions::default()
                };
                let r = remove_symmetries(&theta, n, &spec, &opts).unwrap();
                assert_equioutput(&spec, &theta, &r.theta, 1e-10);
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let spec = MlpSpec::new(vec![3, 5, 4, 1], Activation::Tanh).unwrap();
        let theta = planted(&spec, 2, 300, 0.05, 8);
        let opts = RemovalOptions::default();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one.install(|| remove_symmetries(&theta, 600, &spec, &opts).unwrap());
        let b = remove_symmetries(&theta, 600, &spec, &opts).unwrap();
        assert_eq!(a.theta, b.theta);
    }

    #[test]
    fn study_method_improves_quality_on_planted_data() {
        let spec = MlpSpec::new(vec![1, 3, 1], Activation::Tanh).unwrap();
        let theta = planted(&spec, 2, 60, 0.02, 11);
        let opts = RemovalOptions {
            method: Method::Study,
            study: StudyOptions {
                k: 64,
                iterations: 32,
                ..StudyOptions::default()
            },
            ..RemovalOptions::default()
        };
        let r = remove_symmetries(&theta, 120, &spec, &opts).unwrap();
        assert!(
            overall_quality(&spec, &r.quality_after) < overall_quality(&spec, &r.quality_before)
        );
    }

    #[test]
    fn aligning_to_mode_representatives_collapses_every_mode() {
        let spec = MlpSpec::new(vec![2, 4, 3, 1], Activation::Tanh).unwrap();
        let d = spec.num_params();
        let theta = planted(&spec, 3, 30, 0.01, 21);
        // References: one scrambled copy of each mode.
        let refs = theta[..3 * d].to_vec();
        let a = align_to_references(&theta, 90, &spec, &refs, 3, 4).unwrap();
        assert_equioutput(&spec, &theta, &a.theta, 1e-12);
        for i in 0..90 {
            assert_eq!(a.nearest[i], i % 3);
            assert!(
                a.sq_distance[i] < 0.01 * d as f64,
                "sample {i}: {}",
                a.sq_distance[i]
            );
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let spec = MlpSpec::new(vec![1, 3, 1], Activation::Tanh).unwrap();
        let opts = RemovalOptions::default();
        assert!(matches!(
            remove_symmetries(&[0.0; 9], 1, &spec, &opts),
            Err(Error::Shape(_))
        ));
        let mut theta = vec![0.5; 20];
        theta[13] = f64::NAN;
        assert!(matches!(
            remove_symmetries(&theta, 2, &spec, &opts),
            Err(Error::NonFinite { index: 1, .. })
        ));
        assert!(Method::parse("sort").is_err());
        let empty = remove_symmetries(&[], 0, &spec, &opts).unwrap();
        assert!(empty.theta.is_empty());
    }
}
