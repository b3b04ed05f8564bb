//! The linear assignment problem for small square cost matrices: the shortest-augmenting-path
//! Hungarian algorithm with potentials (Kuhn–Munkres in the O(n³) form of Jonker and Volgenant's
//! augmentation step). Deterministic: ties go to the lowest column index.

/// Reusable buffers, so that solving one small problem per sample allocates nothing.
#[derive(Debug, Default, Clone)]
pub(crate) struct Lap {
    u: Vec<f64>,
    v: Vec<f64>,
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
    assignment: Vec<usize>,
}

impl Lap {
    /// Solve `min Σ_i cost[i, π(i)]` over permutations `π` of `0..n`; `cost` is row-major
    /// `(n, n)` and finite. Returns `π` as `row -> column`.
    pub(crate) fn solve(&mut self, n: usize, cost: &[f64]) -> &[usize] {
        debug_assert_eq!(cost.len(), n * n);
        // Index 0 is the algorithm's virtual column; rows and columns are 1-based inside.
        self.u.clear();
        self.u.resize(n + 1, 0.0);
        self.v.clear();
        self.v.resize(n + 1, 0.0);
        self.p.clear();
        self.p.resize(n + 1, 0);
        self.way.clear();
        self.way.resize(n + 1, 0);
        for i in 1..=n {
            self.p[0] = i;
            let mut j0 = 0usize;
            self.minv.clear();
            self.minv.resize(n + 1, f64::INFINITY);
            self.used.clear();
            self.used.resize(n + 1, false);
            loop {
                self.used[j0] = true;
                let i0 = self.p[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = 0usize;
                let row = &cost[(i0 - 1) * n..i0 * n];
                for j in 1..=n {
                    if self.used[j] {
                        continue;
                    }
                    let cur = row[j - 1] - self.u[i0] - self.v[j];
                    if cur < self.minv[j] {
                        self.minv[j] = cur;
                        self.way[j] = j0;
                    }
                    if self.minv[j] < delta {
                        delta = self.minv[j];
                        j1 = j;
                    }
                }
                for j in 0..=n {
                    if self.used[j] {
                        self.u[self.p[j]] += delta;
                        self.v[j] -= delta;
                    } else {
                        self.minv[j] -= delta;
                    }
                }
                j0 = j1;
                if self.p[j0] == 0 {
                    break;
                }
            }
            loop {
                let j1 = self.way[j0];
                self.p[j0] = self.p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
        self.assignment.clear();
        self.assignment.resize(n, 0);
        for j in 1..=n {
            self.assignment[self.p[j] - 1] = j - 1;
        }
        &self.assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::removal::rng::Rng;

    fn brute_force(n: usize, cost: &[f64]) -> f64 {
        fn rec(n: usize, cost: &[f64], row: usize, used: &mut Vec<bool>) -> f64 {
            if row == n {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for c in 0..n {
                if !used[c] {
                    used[c] = true;
                    best = best.min(cost[row * n + c] + rec(n, cost, row + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        rec(n, cost, 0, &mut vec![false; n])
    }

    #[test]
    fn matches_brute_force_on_random_matrices() {
        let mut rng = Rng::new(7);
        let mut lap = Lap::default();
        for n in 1..=7 {
            for _ in 0..30 {
                let cost: Vec<f64> = (0..n * n).map(|_| rng.normal() * 3.0).collect();
                let pi = lap.solve(n, &cost).to_vec();
                let mut seen = vec![false; n];
                for &c in &pi {
                    assert!(!seen[c], "not a permutation: {pi:?}");
                    seen[c] = true;
                }
                let total: f64 = pi.iter().enumerate().map(|(r, &c)| cost[r * n + c]).sum();
                assert!((total - brute_force(n, &cost)).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn finds_a_hidden_permutation() {
        let n = 16;
        let target: Vec<usize> = (0..n).map(|i| (i * 5 + 3) % n).collect();
        let mut cost = vec![1.0; n * n];
        for (r, &c) in target.iter().enumerate() {
            cost[r * n + c] = 0.0;
        }
        assert_eq!(Lap::default().solve(n, &cost), &target[..]);
    }
}
