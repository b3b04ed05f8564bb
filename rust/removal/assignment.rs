//! Our removal: every sample's neurons are matched to per-layer templates by optimal assignment
//! (sign and permutation decided jointly), the templates become the mean of what was matched to
//! them, and the two steps alternate until the labels settle (Lloyd's k-means with a one-to-one
//! constraint per sample; see `SETTLED` and `STALLED`). Each iteration is one parallel pass over the samples: time
//! and memory are linear in their number.

use rayon::prelude::*;

use super::lap::Lap;
use super::neurons::Mask;
use super::rng::Rng;
use super::{Flip, RemovalOptions};
use crate::model::{Layer, MlpSpec};

/// Samples per parallel work item; partial sums are reduced in chunk order, so results do not
/// depend on the number of threads.
const CHUNK: usize = 256;
/// Restarts are scored on at most this many samples; the winner then runs on all of them.
const SUBSAMPLE: usize = 1024;
/// Labels count as settled when at most this share of the samples changed in a round (or moved
/// in a sweep); batches under 10,000 samples need zero changes.
const SETTLED: f64 = 1e-4;
/// ...or when a round (or sweep) lowered the mean cost by at most this fraction. On data without
/// modes (5,000 prior draws of `f2`) rounds keep flipping ~4 % of the samples for ~3e-5 of the
/// cost each: this stops after 82 rounds instead of 384, at a quality within 0.03 %.
const STALLED: f64 = 1e-4;

fn settled(changes: usize, n: usize, before: f64, after: f64) -> bool {
    changes as f64 <= SETTLED * n as f64
        || (before.is_finite() && before - after <= STALLED * before)
}

/// One matching problem: a layer, the parts of `φ` that count, and the flip it admits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Problem {
    pub layer: Layer,
    pub mask: Mask,
    pub flip: Flip,
}

/// Per-thread buffers for matching one sample.
struct Work {
    phi: Vec<f64>,
    cost: Vec<f64>,
    dots: Vec<f64>,
    lap: Lap,
}

impl Work {
    fn new(pb: &Problem) -> Work {
        let (m, p) = (pb.layer.m, pb.layer.dim());
        Work {
            phi: vec![0.0; m * p],
            cost: vec![0.0; m * m],
            dots: vec![0.0; m * m],
            lap: Lap::default(),
        }
    }

    /// Match the neurons of sample `x` to the templates `t`: writes `src[k]` (the neuron that
    /// goes to position `k`) and `sign[k]`, returns the total cost
    /// `Σ_k ‖sign[k]·φ_{src[k]} − t_k‖²`. Leaves the sample's `φ` in `self.phi`.
    fn assign(
        &mut self,
        x: &[f64],
        pb: &Problem,
        t: &Templates,
        src: &mut [u32],
        sign: &mut [i8],
    ) -> f64 {
        let (m, p) = (pb.layer.m, pb.layer.dim());
        pb.layer.gather_all(x, pb.mask, &mut self.phi);
        // dots = Φ·Tᵀ as rank-one updates over the coordinates: the inner loop runs over
        // templates with no reduction, so it vectorizes; masked (zero) coordinates are skipped.
        self.dots.fill(0.0);
        for j in 0..m {
            let phi = &self.phi[j * p..(j + 1) * p];
            let row = &mut self.dots[j * m..(j + 1) * m];
            for (c, &a) in phi.iter().enumerate() {
                if a != 0.0 {
                    for (d, &v) in row.iter_mut().zip(&t.cols[c * m..(c + 1) * m]) {
                        *d += a * v;
                    }
                }
            }
            let pn: f64 = phi.iter().map(|v| v * v).sum();
            let cost = &mut self.cost[j * m..(j + 1) * m];
            for ((c, &dot), &tn) in cost.iter_mut().zip(row.iter()).zip(&t.norms) {
                // min over s ∈ {±1} of ‖sφ − t‖² when the activation admits a flip.
                let cross = if pb.flip == Flip::None {
                    dot
                } else {
                    dot.abs()
                };
                *c = pn + tn - 2.0 * cross;
            }
        }
        let pi = self.lap.solve(m, &self.cost);
        let mut total = 0.0;
        for (j, &k) in pi.iter().enumerate() {
            src[k] = j as u32;
            sign[k] = if pb.flip != Flip::None && self.dots[j * m + k] < 0.0 {
                -1
            } else {
                1
            };
            total += self.cost[j * m + k];
        }
        total.max(0.0)
    }
}

/// One layer's templates `(m, p)`, stored transposed `(p, m)`, with their squared norms `(m,)`.
pub(crate) struct Templates {
    cols: Vec<f64>,
    norms: Vec<f64>,
}

impl Templates {
    pub(crate) fn new(rows: &[f64], m: usize, p: usize) -> Templates {
        let mut cols = vec![0.0; m * p];
        for k in 0..m {
            for c in 0..p {
                cols[c * m + k] = rows[k * p + c];
            }
        }
        let norms = rows
            .chunks(p.max(1))
            .map(|t| t.iter().map(|v| v * v).sum())
            .collect();
        Templates { cols, norms }
    }
}

struct ChunkStat {
    sum: Vec<f64>,
    cost: f64,
    changes: usize,
}

/// Result of alternating assignment and template updates.
pub(crate) struct Lloyd {
    pub templates: Vec<f64>,
    /// Mean cost per sample at the last assignment.
    pub cost: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Every sample's assignment for one layer, `(n, m)` each: position `k` takes neuron `src[k]`
/// times `sign[k]`.
#[derive(Debug, Default)]
pub(crate) struct Labels {
    src: Vec<u32>,
    sign: Vec<i8>,
}

impl Labels {
    fn reset(&mut self, n: usize, m: usize) {
        self.src.clear();
        self.src.resize(n * m, u32::MAX);
        self.sign.clear();
        self.sign.resize(n * m, 1);
    }
}

/// Alternate (1) optimal assignment of every sample to `templates` and (2) templates = mean of
/// the matched, sign-corrected neuron vectors, until the assignments settle or `max_iter`.
/// `labels` receives the final assignment.
pub(crate) fn lloyd(
    x: &[f64],
    n: usize,
    d: usize,
    pb: &Problem,
    mut templates: Vec<f64>,
    max_iter: usize,
    labels: &mut Labels,
) -> Lloyd {
    let (m, p) = (pb.layer.m, pb.layer.dim());
    labels.reset(n, m);
    let (src, sign) = (&mut labels.src, &mut labels.sign);
    let mut out = Lloyd {
        templates: Vec::new(),
        cost: f64::INFINITY,
        iterations: 0,
        converged: false,
    };
    for it in 0..max_iter.max(1) {
        let tm = Templates::new(&templates, m, p);
        let stats: Vec<ChunkStat> = x
            .par_chunks(CHUNK * d)
            .zip(src.par_chunks_mut(CHUNK * m))
            .zip(sign.par_chunks_mut(CHUNK * m))
            .map_init(
                || (Work::new(pb), vec![0u32; m], vec![0i8; m]),
                |(w, new_src, new_sign), ((xc, sc), gc)| {
                    let mut st = ChunkStat {
                        sum: vec![0.0; m * p],
                        cost: 0.0,
                        changes: 0,
                    };
                    for (i, xs) in xc.chunks(d).enumerate() {
                        st.cost += w.assign(xs, pb, &tm, new_src, new_sign);
                        let (old_src, old_sign) =
                            (&mut sc[i * m..(i + 1) * m], &mut gc[i * m..(i + 1) * m]);
                        if old_src != &new_src[..] || old_sign != &new_sign[..] {
                            st.changes += 1;
                            old_src.copy_from_slice(new_src);
                            old_sign.copy_from_slice(new_sign);
                        }
                        for k in 0..m {
                            let j = new_src[k] as usize;
                            let s = f64::from(new_sign[k]);
                            let phi = &w.phi[j * p..(j + 1) * p];
                            for (acc, v) in st.sum[k * p..(k + 1) * p].iter_mut().zip(phi) {
                                *acc += s * v;
                            }
                        }
                    }
                    st
                },
            )
            .collect();
        let mut sum = vec![0.0; m * p];
        let (mut cost, mut changes) = (0.0, 0usize);
        for st in &stats {
            for (a, b) in sum.iter_mut().zip(&st.sum) {
                *a += b;
            }
            cost += st.cost;
            changes += st.changes;
        }
        templates = sum.into_iter().map(|v| v / n as f64).collect();
        out.iterations = it + 1;
        let before = out.cost;
        out.cost = cost / n as f64;
        if settled(changes, n, before, out.cost) {
            out.converged = true;
            break;
        }
    }
    out.templates = templates;
    out
}

/// Mean over samples of every position's neuron vector: `(m, p)`.
pub(crate) fn position_means(x: &[f64], n: usize, d: usize, layer: &Layer, mask: Mask) -> Vec<f64> {
    let (m, p) = (layer.m, layer.dim());
    let parts: Vec<Vec<f64>> = x
        .par_chunks(CHUNK * d)
        .map_init(
            || vec![0.0; m * p],
            |phi, xc| {
                let mut sum = vec![0.0; m * p];
                for xs in xc.chunks(d) {
                    layer.gather_all(xs, mask, phi);
                    for (a, b) in sum.iter_mut().zip(phi.iter()) {
                        *a += b;
                    }
                }
                sum
            },
        )
        .collect();
    let mut sum = vec![0.0; m * p];
    for part in &parts {
        for (a, b) in sum.iter_mut().zip(part) {
            *a += b;
        }
    }
    sum.into_iter().map(|v| v / n.max(1) as f64).collect()
}

/// Mean squared distance of the neurons of one layer to their position's mean, per neuron.
pub(crate) fn layer_spread(x: &[f64], n: usize, d: usize, layer: &Layer) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let (m, p) = (layer.m, layer.dim());
    let means = position_means(x, n, d, layer, Mask::FULL);
    let parts: Vec<f64> = x
        .par_chunks(CHUNK * d)
        .map_init(
            || vec![0.0; m * p],
            |phi, xc| {
                let mut s = 0.0;
                for xs in xc.chunks(d) {
                    layer.gather_all(xs, Mask::FULL, phi);
                    s += phi
                        .iter()
                        .zip(&means)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>();
                }
                s
            },
        )
        .collect();
    parts.iter().sum::<f64>() / (n * m) as f64
}

/// Apply each sample's assignment; returns how many samples were moved (not the identity).
fn apply_all(x: &mut [f64], d: usize, pb: &Problem, labels: &Labels) -> usize {
    let m = pb.layer.m;
    let (src, sign) = (&labels.src, &labels.sign);
    let sigmoid = pb.flip == Flip::Sigmoid;
    x.par_chunks_mut(d)
        .zip(src.par_chunks(m))
        .zip(sign.par_chunks(m))
        .map_init(Vec::new, |scratch, ((xs, a), s)| {
            let moved =
                a.iter().enumerate().any(|(k, &j)| j as usize != k) || s.iter().any(|&v| v < 0);
            pb.layer.apply(xs, a, s, sigmoid, scratch);
            usize::from(moved)
        })
        .sum()
}

/// Templates = the neuron vectors of sample `i` of `x`.
fn sample_templates(x: &[f64], i: usize, d: usize, pb: &Problem) -> Vec<f64> {
    let mut t = vec![0.0; pb.layer.m * pb.layer.dim()];
    pb.layer.gather_all(&x[i * d..(i + 1) * d], pb.mask, &mut t);
    t
}

/// Initial templates: up to `restarts` samples of a random subsample, picked k-means++-style
/// (each next one with probability proportional to its matching cost to the nearest one already
/// picked, so that minor modes get a chance), each refined by `lloyd` on the subsample; the one
/// with the lowest mean cost wins.
fn seeded_templates(
    x: &[f64],
    n: usize,
    d: usize,
    pb: &Problem,
    opts: &RemovalOptions,
    rng: &mut Rng,
) -> Vec<f64> {
    let m = pb.layer.m;
    let idx = rng.subset(n, SUBSAMPLE);
    let s = idx.len();
    let xs: Vec<f64> = idx
        .iter()
        .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
        .collect();
    let mut picks = vec![rng.below(s)];
    let mut nearest = vec![f64::INFINITY; s];
    while picks.len() < opts.restarts.max(1).min(s) {
        let t = Templates::new(
            &sample_templates(&xs, *picks.last().unwrap(), d, pb),
            m,
            pb.layer.dim(),
        );
        let costs: Vec<f64> = xs
            .par_chunks(d)
            .map_init(
                || (Work::new(pb), vec![0u32; m], vec![0i8; m]),
                |(w, a, g), row| w.assign(row, pb, &t, a, g),
            )
            .collect();
        for (near, c) in nearest.iter_mut().zip(costs) {
            *near = near.min(c);
        }
        let total: f64 = nearest.iter().sum();
        if total <= 0.0 {
            break; // every sample already matches a pick exactly
        }
        let mut u = rng.uniform() * total;
        let mut pick = s - 1;
        for (i, &c) in nearest.iter().enumerate() {
            if u < c {
                pick = i;
                break;
            }
            u -= c;
        }
        picks.push(pick);
    }
    let mut labels = Labels::default();
    let mut best: Option<Lloyd> = None;
    for &pick in &picks {
        let run = lloyd(
            &xs,
            s,
            d,
            pb,
            sample_templates(&xs, pick, d, pb),
            opts.iterations,
            &mut labels,
        );
        if best.as_ref().is_none_or(|b| run.cost < b.cost) {
            best = Some(run);
        }
    }
    best.map(|b| b.templates).unwrap_or_default()
}

/// What the driver reports back.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub iterations: usize,
    pub sweeps: usize,
    pub converged: bool,
}

/// The whole method on a batch `x` of `n` samples (modified in place).
pub(crate) fn run(
    x: &mut [f64],
    n: usize,
    spec: &MlpSpec,
    flip: Flip,
    opts: &RemovalOptions,
) -> Stats {
    let d = spec.num_params();
    // Start from the end of the network with more fixed (unpermutable) coordinates: the first
    // layer matched sees only those. The study went in reverse; for the usual many-inputs,
    // one-output regression net, forward gives the first layer `in + 1` fixed coordinates
    // instead of `out + 1`. A layer's parts that index a neighbour not aligned yet are masked.
    let order = layer_order(spec);
    let mut rng = Rng::new(opts.seed);
    let mut stats = Stats::default();
    let mut any_masked = false;
    let mut labels = Labels::default();
    let mut all_converged = true;
    for &(h, mask) in &order {
        let layer = spec.hidden_layer(h);
        any_masked |= mask != Mask::FULL;
        let pb = Problem { layer, mask, flip };
        let init = seeded_templates(x, n, d, &pb, opts, &mut rng);
        let r = lloyd(x, n, d, &pb, init, opts.iterations, &mut labels);
        stats.iterations += r.iterations;
        all_converged &= r.converged;
        apply_all(x, d, &pb, &labels);
    }
    stats.sweeps = 1;
    if !any_masked {
        stats.converged = all_converged;
        return stats;
    }
    // The first sweep matched some layers on part of `φ`; now that every layer is aligned,
    // sweep again on whole neuron vectors (block coordinate descent) until nothing moves.
    stats.converged = false;
    let mut previous = f64::INFINITY;
    for _ in 0..opts.max_sweeps {
        stats.sweeps += 1;
        let mut moved = 0;
        let mut cost = 0.0;
        all_converged = true;
        for &(h, _) in &order {
            let layer = spec.hidden_layer(h);
            let pb = Problem {
                layer,
                mask: Mask::FULL,
                flip,
            };
            let init = position_means(x, n, d, &layer, Mask::FULL);
            let r = lloyd(x, n, d, &pb, init, opts.iterations, &mut labels);
            stats.iterations += r.iterations;
            all_converged &= r.converged;
            cost += r.cost;
            moved += apply_all(x, d, &pb, &labels);
        }
        if settled(moved, n, previous, cost) {
            stats.converged = all_converged;
            break;
        }
        previous = cost;
    }
    stats
}

/// Hidden layers in the order the method visits them, and each layer's first-sweep mask.
fn layer_order(spec: &MlpSpec) -> Vec<(usize, Mask)> {
    let hidden = spec.num_hidden();
    let forward = spec.sizes[0] >= spec.sizes[spec.sizes.len() - 1];
    let order: Vec<usize> = if forward {
        (0..hidden).collect()
    } else {
        (0..hidden).rev().collect()
    };
    let mut aligned = vec![false; hidden];
    order
        .into_iter()
        .map(|h| {
            let mask = Mask {
                incoming: h == 0 || aligned[h - 1],
                outgoing: h + 1 == hidden || aligned[h + 1],
            };
            aligned[h] = true;
            (h, mask)
        })
        .collect()
}

/// Every sample aligned to its nearest reference.
pub(crate) struct Aligned {
    pub theta: Vec<f64>,
    pub nearest: Vec<usize>,
    pub sq_distance: Vec<f64>,
}

/// Align each sample of `x` (`(n, d)`) separately to each of the `k` reference vectors `refs`
/// (`(k, d)`), layer by layer (templates = the reference's neurons, the same masked first sweep
/// and whole-vector sweeps as `run`), and keep the alignment to the nearest reference.
pub(crate) fn align_to_references(
    x: &[f64],
    n: usize,
    spec: &MlpSpec,
    flip: Flip,
    refs: &[f64],
    max_sweeps: usize,
) -> Aligned {
    let d = spec.num_params();
    let k = refs.len() / d.max(1);
    let first = layer_order(spec);
    let problems = |full: bool| -> Vec<Problem> {
        first
            .iter()
            .map(|&(h, mask)| Problem {
                layer: spec.hidden_layer(h),
                mask: if full { Mask::FULL } else { mask },
                flip,
            })
            .collect()
    };
    let sweeps = [problems(false), problems(true)];
    // templates[sweep][r][layer] and their squared norms.
    let templates: Vec<Vec<Vec<Templates>>> = sweeps
        .iter()
        .map(|pbs| {
            (0..k)
                .map(|r| {
                    pbs.iter()
                        .map(|pb| {
                            Templates::new(
                                &sample_templates(refs, r, d, pb),
                                pb.layer.m,
                                pb.layer.dim(),
                            )
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut out = Aligned {
        theta: vec![0.0; n * d],
        nearest: vec![0; n],
        sq_distance: vec![0.0; n],
    };
    let sigmoid = flip == Flip::Sigmoid;
    out.theta
        .par_chunks_mut(d)
        .zip(x.par_chunks(d))
        .zip(
            out.nearest
                .par_iter_mut()
                .zip(out.sq_distance.par_iter_mut()),
        )
        .for_each_init(
            || {
                let works: Vec<Work> = sweeps[1].iter().map(Work::new).collect();
                let widest = sweeps[1].iter().map(|pb| pb.layer.m).max().unwrap_or(0);
                (
                    works,
                    vec![0u32; widest],
                    vec![0i8; widest],
                    vec![0.0; d],
                    Vec::new(),
                )
            },
            |(works, src, sign, buf, scratch), ((dst, xs), (near, dist))| {
                *dist = f64::INFINITY;
                for r in 0..k {
                    buf.copy_from_slice(xs);
                    for sweep in 0..max_sweeps.max(1) {
                        let which = usize::from(sweep > 0);
                        let mut moved = false;
                        for (l, pb) in sweeps[which].iter().enumerate() {
                            let m = pb.layer.m;
                            works[l].assign(
                                buf,
                                pb,
                                &templates[which][r][l],
                                &mut src[..m],
                                &mut sign[..m],
                            );
                            let identity =
                                src[..m].iter().enumerate().all(|(k, &j)| j as usize == k)
                                    && sign[..m].iter().all(|&s| s > 0);
                            if !identity {
                                pb.layer.apply(buf, &src[..m], &sign[..m], sigmoid, scratch);
                                moved = true;
                            }
                        }
                        if !moved && sweep > 0 {
                            break;
                        }
                    }
                    let reference = &refs[r * d..(r + 1) * d];
                    let d2: f64 = buf
                        .iter()
                        .zip(reference)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    if d2 < *dist {
                        *dist = d2;
                        *near = r;
                        dst.copy_from_slice(buf);
                    }
                }
            },
        );
    out
}
