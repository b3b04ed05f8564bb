//! The study's removal (paper.md §7; Wiese et al. 2023, Algorithms 1–4), re-implemented for
//! comparison. Layers in reverse order; per layer:
//! 1. signs (odd activations): an unsupervised max-margin hyperplane through the origin,
//!    `½‖β‖² + C Σ max(0, 1 − |βᵀφ|)`, fitted by minibatch subgradient descent from several
//!    random starts (lowest loss wins); every neuron with `βᵀφ < 0` is flipped;
//! 2. permutations: neuron vectors standardized per coordinate, a symmetric k-nearest-neighbour
//!    graph with Gaussian similarity `exp(−‖Δ‖²/(2σ²))`, then `iterations` rounds of a greedy
//!    constrained vote: each neuron's label distribution is the similarity-weighted share of
//!    its neighbours' current labels, and each sample takes its most confident (neuron, label)
//!    pairs greedily without repeating a label; a random half of the samples adopts its new
//!    labels each round. Neurons are then ordered by label.
//!
//! Differences from the study's code, all on the side of doing what it meant: the graph is kept
//! as sparse neighbour lists (memory `O(N·M·k)`, not the dense `(N·M)²` matrix); the greedy
//! step never reuses a row or label (the original could when all remaining votes were zero);
//! the similarity applies the Gaussian kernel to the squared distance as paper.md states (the
//! study's code used `exp(−σ²·‖Δ‖/2)`, the unsquared distance).

use rayon::prelude::*;

use super::assignment::Problem;
use super::neurons::Mask;
use super::rng::Rng;
use super::{Flip, StudyOptions};
use crate::error::{Error, Result};
use crate::model::{Layer, MlpSpec};

/// Neighbour lists above this many entries (`N·M·k`) are refused: they would need gigabytes.
const MAX_EDGES: usize = 1 << 26;

/// All neuron vectors of one layer, `(n·m, p)`.
fn neuron_vectors(x: &[f64], n: usize, d: usize, layer: &Layer) -> Vec<f64> {
    let (m, p) = (layer.m, layer.dim());
    let mut phi = vec![0.0; n * m * p];
    phi.par_chunks_mut(m * p)
        .zip(x.par_chunks(d))
        .for_each(|(out, xs)| layer.gather_all(xs, Mask::FULL, out));
    phi
}

/// The unsupervised max-margin hyperplane `β` (normal vector, length `p`).
pub(crate) fn fit_hyperplane(
    phi: &[f64],
    p: usize,
    opts: &StudyOptions,
    rng: &mut Rng,
) -> Vec<f64> {
    let nodes = phi.len() / p;
    let loss = |beta: &[f64]| -> f64 {
        let reg = 0.5 * beta.iter().map(|b| b * b).sum::<f64>();
        let hinge: f64 = phi
            .par_chunks(p)
            .map(|v| (1.0 - dot(v, beta).abs()).max(0.0))
            .sum();
        reg + opts.svm_c * hinge
    };
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut order: Vec<usize> = (0..nodes).collect();
    let batch = opts.svm_batch.max(1).min(nodes.max(1));
    for _ in 0..opts.svm_restarts.max(1) {
        let mut beta: Vec<f64> = (0..p).map(|_| rng.normal()).collect();
        let norm = dot(&beta, &beta).sqrt().max(f64::MIN_POSITIVE);
        beta.iter_mut().for_each(|b| *b /= norm);
        let mut lr = opts.svm_lr;
        let mut grad = vec![0.0; p];
        for _ in 0..opts.svm_epochs {
            rng.shuffle(&mut order);
            // Full batches only, as the study did.
            for chunk in order.chunks_exact(batch) {
                grad.copy_from_slice(&beta);
                for &i in chunk {
                    let v = &phi[i * p..(i + 1) * p];
                    let margin = dot(v, &beta);
                    if margin.abs() < 1.0 && margin != 0.0 {
                        let s = opts.svm_c * margin.signum();
                        grad.iter_mut().zip(v).for_each(|(g, a)| *g -= s * a);
                    }
                }
                beta.iter_mut().zip(&grad).for_each(|(b, g)| *b -= lr * g);
            }
            lr *= 0.8;
        }
        let l = loss(&beta);
        if best.as_ref().is_none_or(|(bl, _)| l < *bl) {
            best = Some((l, beta));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| vec![0.0; p])
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Symmetric k-NN graph with Gaussian similarities, as compressed sparse rows.
struct Graph {
    start: Vec<usize>,
    cols: Vec<u32>,
    weights: Vec<f32>,
}

fn knn_graph(phi: &[f64], p: usize, k: usize, sigma: f64) -> Graph {
    let nodes = phi.len() / p;
    // Standardize every coordinate over all neuron vectors (the study's `data.standardize`).
    let mut z = phi.to_vec();
    for c in 0..p {
        let mean = (0..nodes).map(|i| phi[i * p + c]).sum::<f64>() / nodes as f64;
        let var = (0..nodes)
            .map(|i| (phi[i * p + c] - mean).powi(2))
            .sum::<f64>()
            / nodes as f64;
        let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
        for i in 0..nodes {
            z[i * p + c] = (phi[i * p + c] - mean) / sd;
        }
    }
    let inv = 1.0 / (2.0 * sigma * sigma);
    // Each node's k nearest others, one row at a time (never the whole distance matrix).
    let lists: Vec<Vec<(u32, f32)>> = (0..nodes)
        .into_par_iter()
        .map_init(Vec::new, |buf: &mut Vec<(f64, u32)>, i| {
            let zi = &z[i * p..(i + 1) * p];
            buf.clear();
            buf.extend((0..nodes).filter(|&j| j != i).map(|j| {
                let zj = &z[j * p..(j + 1) * p];
                (
                    zi.iter()
                        .zip(zj)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>(),
                    j as u32,
                )
            }));
            let by = |a: &(f64, u32), b: &(f64, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            if k < buf.len() {
                buf.select_nth_unstable_by(k, by);
                buf.truncate(k);
            }
            buf.iter()
                .map(|&(d2, j)| (j, (-d2 * inv).exp() as f32))
                .collect()
        })
        .collect();
    // Symmetrize: an edge exists when either end lists the other (same weight both ways).
    let mut edges: Vec<(u32, u32, f32)> = Vec::with_capacity(2 * nodes * k);
    for (i, list) in lists.iter().enumerate() {
        for &(j, w) in list {
            edges.push((i as u32, j, w));
            edges.push((j, i as u32, w));
        }
    }
    drop(lists);
    edges.par_sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    edges.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let mut start = vec![0usize; nodes + 1];
    for &(i, _, _) in &edges {
        start[i as usize + 1] += 1;
    }
    for i in 0..nodes {
        start[i + 1] += start[i];
    }
    Graph {
        start,
        cols: edges.iter().map(|e| e.1).collect(),
        weights: edges.iter().map(|e| e.2).collect(),
    }
}

/// One round of the greedy constrained vote for sample `g`: writes its new labels into `out`.
fn vote(graph: &Graph, labels: &[u32], g: usize, m: usize, probs: &mut [f64], out: &mut [u32]) {
    probs.fill(0.0);
    for h in 0..m {
        let node = g * m + h;
        let row = &mut probs[h * m..(h + 1) * m];
        for e in graph.start[node]..graph.start[node + 1] {
            row[labels[graph.cols[e] as usize] as usize] += f64::from(graph.weights[e]);
        }
        let total: f64 = row.iter().sum();
        if total > 0.0 {
            row.iter_mut().for_each(|v| *v /= total);
        }
    }
    let mut row_done = vec![false; m];
    let mut col_done = vec![false; m];
    for _ in 0..m {
        let mut best = (-1.0, 0, 0);
        for h in (0..m).filter(|&h| !row_done[h]) {
            for l in (0..m).filter(|&l| !col_done[l]) {
                if probs[h * m + l] > best.0 {
                    best = (probs[h * m + l], h, l);
                }
            }
        }
        let (_, h, l) = best;
        out[h] = l as u32;
        row_done[h] = true;
        col_done[l] = true;
    }
}

/// The study's per-layer labels (`(n, m)`, each row a permutation of `0..m`).
fn constrained_knn_labels(
    phi: &[f64],
    n: usize,
    m: usize,
    p: usize,
    opts: &StudyOptions,
    rng: &mut Rng,
) -> Vec<u32> {
    let nodes = n * m;
    let mut labels: Vec<u32> = (0..nodes).map(|i| (i % m) as u32).collect();
    let k = opts.k.min(nodes.saturating_sub(1));
    if m < 2 || k == 0 {
        return labels;
    }
    let graph = knn_graph(phi, p, k, opts.sigma);
    let mut proposal = vec![0u32; nodes];
    for _ in 0..opts.iterations {
        proposal.par_chunks_mut(m).enumerate().for_each_init(
            || vec![0.0; m * m],
            |probs, (g, out)| vote(&graph, &labels, g, m, probs, out),
        );
        // A random half of the samples takes its new labels (the study's damping).
        for g in rng.subset(n, n / 2) {
            labels[g * m..(g + 1) * m].copy_from_slice(&proposal[g * m..(g + 1) * m]);
        }
    }
    labels
}

pub(crate) fn check_size(n: usize, spec: &MlpSpec, opts: &StudyOptions) -> Result<()> {
    for h in 0..spec.num_hidden() {
        let nodes = n * spec.sizes[h + 1];
        if nodes.saturating_mul(opts.k.min(nodes)).saturating_mul(2) > MAX_EDGES {
            return Err(Error::Unsupported(format!(
                "method=\"study\" keeps a {}-nearest-neighbour graph over all {nodes} neurons of \
                 hidden layer {h} (memory O(N·M·k)); that is too large here: use \
                 method=\"assignment\" or fewer samples",
                opts.k
            )));
        }
    }
    Ok(())
}

/// The study's method on a batch `x` of `n` samples (modified in place).
pub(crate) fn run(
    x: &mut [f64],
    n: usize,
    spec: &MlpSpec,
    flip: Flip,
    opts: &StudyOptions,
    seed: u64,
) {
    let d = spec.num_params();
    let mut rng = Rng::new(seed);
    let mut scratch = Vec::new();
    for h in (0..spec.num_hidden()).rev() {
        let layer = spec.hidden_layer(h);
        let (m, p) = (layer.m, layer.dim());
        let pb = Problem {
            layer,
            mask: Mask::FULL,
            flip,
        };
        let identity: Vec<u32> = (0..m as u32).collect();
        if flip != Flip::None {
            let phi = neuron_vectors(x, n, d, &layer);
            let beta = fit_hyperplane(&phi, p, opts, &mut rng);
            let sigmoid = flip == Flip::Sigmoid;
            x.par_chunks_mut(d)
                .zip(phi.par_chunks(m * p))
                .for_each_init(
                    || (Vec::new(), vec![1i8; m]),
                    |(buf, sign), (xs, ph)| {
                        for (k, s) in sign.iter_mut().enumerate() {
                            *s = if dot(&ph[k * p..(k + 1) * p], &beta) < 0.0 {
                                -1
                            } else {
                                1
                            };
                        }
                        pb.layer.apply(xs, &identity, sign, sigmoid, buf);
                    },
                );
        }
        let phi = neuron_vectors(x, n, d, &layer);
        let labels = constrained_knn_labels(&phi, n, m, p, opts, &mut rng);
        let plus = vec![1i8; m];
        let mut src = vec![0u32; m];
        for (xs, lab) in x.chunks_mut(d).zip(labels.chunks(m)) {
            for (h_idx, &l) in lab.iter().enumerate() {
                src[l as usize] = h_idx as u32;
            }
            layer.apply(xs, &src, &plus, false, &mut scratch);
        }
    }
}
