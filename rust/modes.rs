//! Mode deduplication: group vectors (symmetry-free parameter vectors, or predictions on probe
//! inputs) into modes.
//!
//! A mode is a connected component of the graph that links two vectors when their RMS distance
//! `‖x − y‖ / √D` is at most `tol` (single linkage at `tol`; DBSCAN with one point per core).
//! The result is exact and does not depend on the order of the samples or the thread count.
//!
//! It is computed without all pairs: (1) *leaders*: a point joins the first earlier leader within
//! `tol`, else it leads a new group; every group is connected through its leader. (2) Two groups
//! can only be linked when their leaders are within `3·tol`, and then only through members
//! within `2·tol` of the other leader; those few pairs are checked until one link is found.
//! Cost `O(N·L·D)` for `L` leaders plus the boundary checks: near-linear when modes are tight
//! and well separated compared with `tol`.
//!
//! Without a `tol`, [`auto_tolerance`] reads one off the data's minimum spanning tree.
//!
//! Clusters smaller than `min_size` are not modes: their samples get the label `-1`
//! ("unassigned"). Modes are labelled `0, 1, ...` by decreasing size (ties: earliest member).

use rayon::prelude::*;

use crate::error::{Error, Result};

/// A gap between consecutive spanning-tree edge lengths counts when it is at least this factor.
pub const AUTO_GAP: f64 = 2.0;
/// Most samples whose minimum spanning tree sets the automatic `tol` (evenly spaced).
const AUTO_SUBSAMPLE: usize = 2048;
/// Without a gap, edges longer than this many times the 90th percentile of the edge lengths
/// still separate: within one smooth mode the longest edge stays under ~3.3× (planted modes of
/// `f1` and `f2`, both spaces), while a diffuse scatter of far samples (each perhaps a mode of
/// its own) is left as singletons, which the chain count then treats as unseen mass.
pub const AUTO_TAIL: f64 = 4.0;
/// A cut is accepted only if it leaves at least this share of samples in groups of three or
/// more: a gap inside one wide mode would shatter it into singletons instead.
const AUTO_KEEP: f64 = 0.9;
/// Points handled per round of the parallel leader pass.
const BLOCK: usize = 4096;

/// Modes of a batch of vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Modes {
    /// `(n,)`: mode of each vector, `-1` when its cluster is smaller than `min_size`.
    pub labels: Vec<i64>,
    /// `(k,)`: members per mode, decreasing.
    pub counts: Vec<usize>,
    /// `(k,)`: index of the member nearest its mode's mean.
    pub representatives: Vec<usize>,
    /// Clusters of exactly one vector (before `min_size`): the Good–Turing count `f₁`.
    pub singletons: usize,
    /// Number of clusters of any size (before `min_size`).
    pub clusters: usize,
    /// The tolerance used (RMS distance).
    pub tol: f64,
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        // The smaller root wins, so roots do not depend on the merge order.
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent[hi] = lo;
        }
    }
}

/// Edges `(length, a, b)` of the Euclidean minimum spanning tree of the rows `idx` of `x`
/// (Prim's algorithm, `O(s²·D)`), lengths as RMS distances; `a`, `b` index into `idx`.
fn spanning_tree(x: &[f64], dim: usize, idx: &[usize]) -> Vec<(f64, usize, usize)> {
    let s = idx.len();
    let row = |t: usize| &x[idx[t] * dim..(idx[t] + 1) * dim];
    let mut in_tree = vec![false; s];
    let mut best = vec![f64::INFINITY; s];
    let mut parent = vec![0usize; s];
    let mut edges = Vec::with_capacity(s.saturating_sub(1));
    let mut cur = 0;
    for _ in 1..s {
        in_tree[cur] = true;
        let xc = row(cur);
        best.par_iter_mut()
            .zip(parent.par_iter_mut())
            .enumerate()
            .for_each(|(j, (b, p))| {
                if !in_tree[j] {
                    let d2 = sq_dist(xc, row(j));
                    if d2 < *b {
                        *b = d2;
                        *p = cur;
                    }
                }
            });
        let next = (0..s)
            .filter(|&j| !in_tree[j])
            .min_by(|&a, &b| best[a].total_cmp(&best[b]).then(a.cmp(&b)))
            .expect("a vertex is left outside the tree");
        edges.push(((best[next] / dim as f64).sqrt(), parent[next], next));
        cur = next;
    }
    edges
}

/// Share of the `s` tree vertices left in components of three or more when edges of length
/// `>= cut` are removed.
fn kept_share(edges: &[(f64, usize, usize)], s: usize, cut: f64) -> f64 {
    let mut uf = UnionFind::new(s);
    for &(len, a, b) in edges {
        if len < cut {
            uf.union(a, b);
        }
    }
    let mut size = vec![0usize; s];
    for v in 0..s {
        size[uf.find(v)] += 1;
    }
    (0..s).filter(|&v| size[uf.find(v)] >= 3).count() as f64 / s as f64
}

/// The automatic tolerance, from the minimum spanning tree of up to 2048 evenly spaced
/// samples: modes show up as a few tree edges much longer than the rest. Scanning the longer
/// half of the (positive) edge lengths upwards, the first gap where the next length is at least
/// `AUTO_GAP` times the previous one, and whose cut keeps at least 90 % of the samples in groups
/// of three or more, sets `tol` to the geometric middle of the gap. Without such a gap,
/// `tol = AUTO_TAIL ×` the 90th percentile of the edge lengths. `1.0` for fewer than two
/// distinct points.
pub fn auto_tolerance(x: &[f64], n: usize, dim: usize) -> Result<f64> {
    check(x, n, dim)?;
    let s = n.min(AUTO_SUBSAMPLE);
    let idx: Vec<usize> = (0..s).map(|t| t * n / s).collect();
    let edges = spanning_tree(x, dim, &idx);
    let mut lengths: Vec<f64> = edges.iter().map(|e| e.0).filter(|&l| l > 0.0).collect();
    if lengths.is_empty() {
        return Ok(1.0);
    }
    lengths.sort_by(f64::total_cmp);
    for i in lengths.len() / 2..lengths.len() - 1 {
        let (lo, hi) = (lengths[i], lengths[i + 1]);
        if hi >= AUTO_GAP * lo {
            let cut = (lo * hi).sqrt();
            if kept_share(&edges, s, cut) >= AUTO_KEEP {
                return Ok(cut);
            }
        }
    }
    let q90 = lengths[(lengths.len() - 1) * 9 / 10];
    Ok(AUTO_TAIL * q90)
}

fn check(x: &[f64], n: usize, dim: usize) -> Result<()> {
    if dim == 0 || x.len() != n * dim {
        return Err(Error::Shape(format!(
            "expected {n} vectors of a positive length {dim}, got {} values",
            x.len()
        )));
    }
    if let Some(i) = x
        .par_chunks(dim)
        .position_first(|r| r.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::NonFinite {
            what: "mode vectors".into(),
            index: i,
        });
    }
    Ok(())
}

/// Leader pass: `leader_of[i]` is the index (into `leaders`) of the first leader within `tol`.
fn leaders(x: &[f64], n: usize, dim: usize, r2: f64) -> (Vec<usize>, Vec<usize>) {
    let mut leaders: Vec<usize> = Vec::new();
    let mut leader_of = vec![usize::MAX; n];
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        let known = leaders.len();
        // In parallel, against the leaders that existed before this block...
        let found: Vec<Option<usize>> = (start..end)
            .into_par_iter()
            .map(|i| {
                let xi = &x[i * dim..(i + 1) * dim];
                leaders[..known]
                    .iter()
                    .position(|&l| sq_dist(xi, &x[l * dim..(l + 1) * dim]) <= r2)
            })
            .collect();
        // ...then in order against the ones this block creates: the same result as one
        // sequential pass.
        for (i, f) in (start..end).zip(found) {
            let slot = f.or_else(|| {
                let xi = &x[i * dim..(i + 1) * dim];
                (known..leaders.len())
                    .find(|&s| sq_dist(xi, &x[leaders[s] * dim..(leaders[s] + 1) * dim]) <= r2)
            });
            leader_of[i] = slot.unwrap_or_else(|| {
                leaders.push(i);
                leaders.len() - 1
            });
        }
        start = end;
    }
    (leaders, leader_of)
}

/// Cluster `n` vectors of length `dim` (row-major `x`); `tol = None` picks [`auto_tolerance`].
pub fn find_modes(
    x: &[f64],
    n: usize,
    dim: usize,
    tol: Option<f64>,
    min_size: usize,
) -> Result<Modes> {
    check(x, n, dim)?;
    let tol = match tol {
        Some(t) if t > 0.0 && t.is_finite() => t,
        Some(t) => {
            return Err(Error::Value(format!(
                "tol must be positive and finite, got {t}"
            )))
        }
        None => auto_tolerance(x, n, dim)?,
    };
    let min_size = min_size.max(1);
    let r2 = tol * tol * dim as f64;
    let (leaders, leader_of) = leaders(x, n, dim, r2);
    let nl = leaders.len();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); nl];
    for (i, &s) in leader_of.iter().enumerate() {
        members[s].push(i);
    }
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    let leaders = &leaders;
    // Leader pairs close enough (3·tol) that their groups might touch.
    let candidates: Vec<(usize, usize)> = (0..nl)
        .into_par_iter()
        .flat_map_iter(|a| {
            let la = row(leaders[a]);
            ((a + 1)..nl)
                .filter(move |&b| sq_dist(la, row(leaders[b])) <= 9.0 * r2)
                .map(move |b| (a, b))
        })
        .collect();
    let mut uf = UnionFind::new(nl);
    for (a, b) in candidates {
        if uf.find(a) == uf.find(b) {
            continue;
        }
        let (la, lb) = (row(leaders[a]), row(leaders[b]));
        let near_b: Vec<usize> = members[a]
            .iter()
            .copied()
            .filter(|&i| sq_dist(row(i), lb) <= 4.0 * r2)
            .collect();
        if near_b.is_empty() {
            continue;
        }
        let near_a: Vec<usize> = members[b]
            .iter()
            .copied()
            .filter(|&j| sq_dist(row(j), la) <= 4.0 * r2)
            .collect();
        let linked = near_b
            .par_iter()
            .any(|&i| near_a.iter().any(|&j| sq_dist(row(i), row(j)) <= r2));
        if linked {
            uf.union(a, b);
        }
    }
    // Clusters: the leaders' components, each listed by its smallest member.
    let mut cluster_of_root = vec![usize::MAX; nl];
    let mut cluster_of = vec![0usize; n];
    let mut sizes: Vec<usize> = Vec::new();
    let mut first: Vec<usize> = Vec::new();
    for i in 0..n {
        let root = uf.find(leader_of[i]);
        if cluster_of_root[root] == usize::MAX {
            cluster_of_root[root] = sizes.len();
            sizes.push(0);
            first.push(i);
        }
        let c = cluster_of_root[root];
        cluster_of[i] = c;
        sizes[c] += 1;
    }
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(first[a].cmp(&first[b])));
    let mut label_of = vec![-1i64; sizes.len()];
    let mut counts = Vec::new();
    for &c in &order {
        if sizes[c] >= min_size {
            label_of[c] = counts.len() as i64;
            counts.push(sizes[c]);
        }
    }
    let labels: Vec<i64> = cluster_of.iter().map(|&c| label_of[c]).collect();
    let representatives = nearest_to_means(x, dim, &labels, counts.len());
    Ok(Modes {
        labels,
        counts,
        representatives,
        singletons: sizes.iter().filter(|&&s| s == 1).count(),
        clusters: sizes.len(),
        tol,
    })
}

/// For each of `k` labels, the member nearest the label's mean (ties: lowest index).
fn nearest_to_means(x: &[f64], dim: usize, labels: &[i64], k: usize) -> Vec<usize> {
    let mut means = vec![0.0; k * dim];
    let mut counts = vec![0usize; k];
    for (r, &l) in x.chunks(dim).zip(labels) {
        if l >= 0 {
            let l = l as usize;
            counts[l] += 1;
            means[l * dim..(l + 1) * dim]
                .iter_mut()
                .zip(r)
                .for_each(|(m, v)| *m += v);
        }
    }
    for (l, &c) in counts.iter().enumerate() {
        means[l * dim..(l + 1) * dim]
            .iter_mut()
            .for_each(|m| *m /= c.max(1) as f64);
    }
    let mut best = vec![(f64::INFINITY, usize::MAX); k];
    for (i, (r, &l)) in x.chunks(dim).zip(labels).enumerate() {
        if l >= 0 {
            let l = l as usize;
            let d2 = sq_dist(r, &means[l * dim..(l + 1) * dim]);
            if d2 < best[l].0 {
                best[l] = (d2, i);
            }
        }
    }
    best.into_iter().map(|b| b.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-noise in [-0.5, 0.5).
    fn noise(i: usize) -> f64 {
        let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^= z >> 29;
        z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    fn blobs(sizes: &[usize], dim: usize, spread: f64) -> (Vec<f64>, Vec<usize>) {
        let mut x = Vec::new();
        let mut truth = Vec::new();
        let mut t = 0;
        // Interleave the blobs so that order effects would show.
        let total: usize = sizes.iter().sum();
        let mut left = sizes.to_vec();
        let mut b = 0;
        while truth.len() < total {
            if left[b] > 0 {
                left[b] -= 1;
                for c in 0..dim {
                    x.push(
                        10.0 * b as f64 * if c % 2 == 0 { 1.0 } else { -1.0 } + spread * noise(t),
                    );
                    t += 1;
                }
                truth.push(b);
            }
            b = (b + 1) % sizes.len();
        }
        (x, truth)
    }

    #[test]
    fn separated_blobs_come_back_with_their_sizes() {
        let (x, truth) = blobs(&[60, 30, 10], 5, 0.5);
        for tol in [None, Some(1.0)] {
            let m = find_modes(&x, 100, 5, tol, 2).unwrap();
            assert_eq!(m.counts, vec![60, 30, 10]);
            for (i, &l) in m.labels.iter().enumerate() {
                assert_eq!(l as usize, truth[i]);
            }
            for (l, &r) in m.representatives.iter().enumerate() {
                assert_eq!(m.labels[r], l as i64);
            }
        }
    }

    #[test]
    fn single_linkage_is_exact_and_order_free() {
        // A chain with steps of 0.9 and one gap of 1.5 (1-D): two components at tol = 1.
        let pos = [0.0, 0.9, 1.8, 2.7, 4.2, 5.1, 6.0];
        let perm = [4, 0, 6, 2, 5, 1, 3];
        let x: Vec<f64> = perm.iter().map(|&i| pos[i]).collect();
        let m = find_modes(&x, 7, 1, Some(1.0), 1).unwrap();
        assert_eq!(m.counts, vec![4, 3]);
        for (k, &i) in perm.iter().enumerate() {
            assert_eq!(m.labels[k], if i < 4 { 0 } else { 1 });
        }
    }

    #[test]
    fn small_clusters_are_unassigned_and_counted() {
        let (mut x, _) = blobs(&[20, 20], 3, 0.1);
        x.extend([500.0, 500.0, 500.0, -500.0, 0.0, 0.0, -500.0, 0.0, 0.0]);
        let m = find_modes(&x, 43, 3, Some(1.0), 3).unwrap();
        assert_eq!(m.counts, vec![20, 20]);
        assert_eq!(m.singletons, 1);
        assert_eq!(m.clusters, 4);
        assert_eq!(m.labels.iter().filter(|&&l| l < 0).count(), 3);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(
            find_modes(&[1.0; 5], 2, 3, None, 1),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            find_modes(&[1.0, f64::NAN], 2, 1, None, 1),
            Err(Error::NonFinite { index: 1, .. })
        ));
        assert!(find_modes(&[1.0, 2.0], 2, 1, Some(-1.0), 1).is_err());
        assert_eq!(auto_tolerance(&[3.0, 3.0], 2, 1).unwrap(), 1.0);
    }
}
