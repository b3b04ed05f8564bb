//! Canonicalization: map each parameter vector of an MLP to the one representative of its
//! equioutput orbit that lies in the reference set (paper.md §2–3).
//!
//! # The representative
//! Hidden layers are processed from the input to the output. When layer `l` is reached its
//! incoming rows are already in canonical order (layer `l-1` moved them), so hidden neuron `j` is
//! described by its *neuron vector* `(bias, incoming weights in input order, outgoing weights in
//! output order)`. For every neuron, in this order:
//!
//! A neuron is *dead* when its bias and its weights from the live neurons of the previous layer
//! (every input, for the first hidden layer) are all zero: with `a(0) = 0` it outputs 0 whatever
//! its input. For the sigmoid (`a(0) = 1/2`) weights from dead neurons count as well.
//!
//! 1. **Scale** (positive scaling: relu, leaky_relu, identity). `r = ‖(bias, weights from live
//!    neurons)‖₂`; the incoming weights and the bias are divided by `r` and the outgoing weights
//!    multiplied by it. Dead neurons keep `r = 1`.
//! 2. **Sign** (sign flip: tanh, sin, identity; sigmoid flip: sigmoid). A live neuron's first
//!    nonzero of (bias, weights from live neurons in input order) is made positive: the bias
//!    decides, a zero bias defers to the first nonzero incoming weight. A flip negates incoming
//!    weights, bias and outgoing weights; the sigmoid flip also adds the outgoing weights
//!    (before negation) to the next layer's bias.
//! 3. **Sort** (permutation: every activation). Live neurons are ordered by
//!    `(bias, weights from live neurons..., outgoing weights..., weights from dead neurons...)`,
//!    compared lexicographically; equal keys keep their original order. Dead neurons come last.
//!
//! Dead neurons are settled at the end, from the last hidden layer back, once the layers their
//! outgoing weights feed into are final: with positive scaling their outgoing weights become a
//! unit vector (the scale `1/‖outgoing‖` goes into the transform); the first nonzero of
//! `(outgoing weights..., incoming weights..., bias)` is made positive (not for the sigmoid, whose flip would move the next
//! layer's bias: there dead neurons keep their sign and original order), and they are sorted
//! by the same vector, stably.
//!
//! The output layer has no symmetry; its rows follow the last hidden layer. The map is
//! deterministic and idempotent. In exact arithmetic its result is the same for every member of
//! an orbit, because each step is a function of quantities the symmetry leaves unchanged; this
//! holds for every vector except a null set where a tie has to be broken by weights that a later
//! step still moves: (i) two live neurons of a layer that tie on `(bias, weights from live
//! neurons)` without being copies of each other, (ii) a dead neuron with nonzero weights from
//! dead neurons whose outgoing weights are zero or tie with another dead neuron's, and (iii) dead
//! sigmoid neurons. (Breaking every such tie is as hard as canonizing a graph.) `-0.0` equals
//! `0.0` in every comparison. In floating point, permutations and sign flips are exact; scales
//! and the sigmoid's bias update round in the last bits.
//!
//! # Transform
//! The group element that canonicalization applied, per sample, as three arrays of length
//! `H = Σ hidden sizes` (hidden layers concatenated): for canonical neuron `k` of a layer,
//! `perm[k]` is the original neuron it came from, and `sign[k] ∈ {+1, −1}` and `scale[k] > 0` are
//! that neuron's sign and the factor `r` its incoming weights were divided by and its outgoing
//! weights multiplied by. Applying a transform performs steps 1–3 with the recorded values (bit
//! for bit what canonicalization did, except that a dead neuron's rescaled outgoing weights may
//! differ in the last bit); inverting it undoes them from the last layer back.
//!
//! # Cost
//! One pass per sample, with no allocation: each layer's decisions read the original sample
//! (and the previous layer's reordered rows, kept in a small per-thread buffer); the result is
//! assembled in a per-thread row and copied to the output in one block, so every value is read
//! from and written to main memory once, as a copy would. Layers of up to 64 neurons are
//! sorted by rank counting, without branches; ties fall back to the full comparison.
//!
//! Batches are slices of `rows × row_len` values (C order); only the first `d` values of a row are
//! network parameters, the rest (such as a regression position's `log σ`) are copied unchanged.

use std::cmp::Ordering;
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, SubAssign};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::{Activation, Layer, MlpSpec, Symmetries};

mod dead;
mod transform;

/// The float types the core works on (`f32`, `f64`).
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
    + PartialOrd
    + Neg<Output = Self>
    + Add<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + AddAssign
    + SubAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const MAX: Self;
    const INFINITY: Self;
    fn abs(self) -> Self;
    fn sqrt(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn to_f64(self) -> f64;
    /// Rounded to f32 (monotonic: `a <= b` implies `a.to_f32() <= b.to_f32()`).
    fn to_f32(self) -> f32;
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const MAX: Self = <$t>::MAX;
            const INFINITY: Self = <$t>::INFINITY;
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn to_f32(self) -> f32 {
                self as f32
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);

/// The per-sample group element that canonicalization applied, for a batch: each array holds
/// `rows × H` entries (`H` = total hidden neurons), laid out like the parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Transform<T> {
    pub perm: Vec<i64>,
    pub sign: Vec<i8>,
    pub scale: Vec<T>,
}

/// A borrowed [`Transform`]: `rows × H` entries each, or `H` (one element for every row).
#[derive(Debug, Clone, Copy)]
pub struct TransformRef<'a, T> {
    pub perm: &'a [i64],
    pub sign: &'a [i8],
    pub scale: &'a [T],
}

/// Where canonicalization writes the transform it applied (`rows × H` entries each).
#[derive(Debug)]
pub struct TransformMut<'a, T> {
    pub perm: &'a mut [i64],
    pub sign: &'a mut [i8],
    pub scale: &'a mut [T],
}

impl<T: Real> Transform<T> {
    /// The identity element for `rows` samples of `canon`'s network.
    pub fn identity(canon: &Canonicalizer, rows: usize) -> Transform<T> {
        let h = canon.hidden_total;
        let mut perm = Vec::with_capacity(rows * h);
        for _ in 0..rows {
            for layer in &canon.layers {
                perm.extend(0..layer.m as i64);
            }
        }
        Transform {
            perm,
            sign: vec![1; rows * h],
            scale: vec![T::ONE; rows * h],
        }
    }

    pub fn as_ref(&self) -> TransformRef<'_, T> {
        TransformRef {
            perm: &self.perm,
            sign: &self.sign,
            scale: &self.scale,
        }
    }

    pub fn as_mut(&mut self) -> TransformMut<'_, T> {
        TransformMut {
            perm: &mut self.perm,
            sign: &mut self.sign,
            scale: &mut self.scale,
        }
    }
}

impl<'a, T> TransformMut<'a, T> {
    /// Consecutive pieces of `len` entries (the last may be shorter).
    fn split(self, len: usize) -> Vec<TransformMut<'a, T>> {
        let len = len.max(1);
        self.perm
            .chunks_mut(len)
            .zip(self.sign.chunks_mut(len))
            .zip(self.scale.chunks_mut(len))
            .map(|((perm, sign), scale)| TransformMut { perm, sign, scale })
            .collect()
    }

    /// Row `i` of a piece holding rows of `h` entries.
    fn row(&mut self, i: usize, h: usize) -> TransformMut<'_, T> {
        TransformMut {
            perm: &mut self.perm[i * h..(i + 1) * h],
            sign: &mut self.sign[i * h..(i + 1) * h],
            scale: &mut self.scale[i * h..(i + 1) * h],
        }
    }
}

/// The two blocks of the flat vector that canonicalization reads per hidden layer: the incoming
/// block (weights, then bias) is `(fan_in + 1) × m` values from `w_in`; the next layer's block
/// (outgoing weights, then the next bias) is `(m + 1) × fan_out` values from `w_out`.
impl Layer {
    fn incoming_len(&self) -> usize {
        (self.fan_in + 1) * self.m
    }

    fn next_len(&self) -> usize {
        (self.m + 1) * self.fan_out
    }
}

/// One layer's group element, indexed by original neuron (`perm` by canonical position).
struct Decisions<T> {
    perm: Vec<usize>,
    sign: Vec<T>,
    scale: Vec<T>,
    /// Sort key: the fixed bias, or +inf for a dead neuron; and rounded to f32.
    key: Vec<T>,
    key32: Vec<f32>,
    /// Live neurons of every hidden layer (they come first in canonical order).
    live: Vec<usize>,
    /// Sign and scale by canonical position, for the writes, and whether any scale is not 1.
    sign_at: Vec<T>,
    scale_at: Vec<T>,
    scaled: bool,
}

impl<T: Real> Decisions<T> {
    /// Fills `sign_at`, `scale_at` (by canonical position) and `scaled` for a layer of `m`
    /// neurons.
    fn by_position(&mut self, m: usize) {
        let (perm, sign, scale) = (&self.perm[..m], &self.sign[..m], &self.scale[..m]);
        let (sign_at, scale_at) = (&mut self.sign_at[..m], &mut self.scale_at[..m]);
        let mut scaled = false;
        for k in 0..m {
            sign_at[k] = sign[perm[k]];
            scale_at[k] = scale[perm[k]];
            scaled |= scale_at[k] != T::ONE;
        }
        self.scaled = scaled;
    }
}

/// Reusable per-thread buffers, so that the per-sample work allocates nothing.
struct Scratch<T> {
    /// A copy of the sample, for the in-place entry points.
    row: Vec<T>,
    /// Two layer blocks: the current layer's reordered incoming rows, and the next one's.
    a: Vec<T>,
    b: Vec<T>,
    dec: Decisions<T>,
    settle: SettleScratch<T>,
}

/// Buffers of `settle_dead`: the dead neurons' order, a copy of their values and of their
/// transform entries while they are reordered.
struct SettleScratch<T> {
    order: Vec<usize>,
    values: Vec<T>,
    t_perm: Vec<i64>,
    t_sign: Vec<i8>,
    t_scale: Vec<T>,
}

/// The canonicalization map of one network: which symmetries to remove, and where each hidden
/// layer lives in the flat vector. Build once, use on any number of batches.
#[derive(Debug, Clone)]
pub struct Canonicalizer {
    activation: Activation,
    remove: Symmetries,
    layers: Vec<Layer>,
    /// Where each hidden layer's neurons start in a transform row.
    t_offsets: Vec<usize>,
    d: usize,
    hidden_total: usize,
    block: usize,
    widest: usize,
}

/// Rows per parallel task: enough tasks to balance the threads, few enough to amortise the
/// per-task scratch.
fn rows_per_task(rows: usize) -> usize {
    (rows / (rayon::current_num_threads() * 8)).clamp(1, 64)
}

/// Finite-value check that the compiler can vectorise (no early exit).
fn all_finite<T: Real>(xs: &[T]) -> bool {
    xs.iter().fold(true, |ok, &x| ok & (x.abs() <= T::MAX))
}

/// Total order on finite values (and +inf, the dead key) in which `-0.0 == 0.0`.
fn cmp_values<T: Real>(a: T, b: T) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

fn check_rows(len: usize, row_len: usize, d: usize, what: &str) -> Result<usize> {
    if row_len < d {
        return Err(Error::Shape(format!(
            "{what}: rows of length {row_len} are shorter than the network's d = {d}"
        )));
    }
    if row_len == 0 || len % row_len != 0 {
        return Err(Error::Shape(format!(
            "{what}: {len} values do not split into rows of length {row_len}"
        )));
    }
    Ok(len / row_len)
}

impl Canonicalizer {
    /// Removes every symmetry the activation has.
    pub fn new(spec: &MlpSpec) -> Canonicalizer {
        let remove = spec.activation.symmetries();
        Self::build(spec, remove)
    }

    /// Removes only the symmetries in `remove`; asking for one the activation does not have is
    /// an [`Error::Unsupported`].
    pub fn with_symmetries(spec: &MlpSpec, remove: Symmetries) -> Result<Canonicalizer> {
        let have = spec.activation.symmetries();
        let asked = [
            ("permutation", remove.permutation, have.permutation),
            ("sign_flip", remove.sign_flip, have.sign_flip),
            (
                "positive_scaling",
                remove.positive_scaling,
                have.positive_scaling,
            ),
            ("sigmoid_flip", remove.sigmoid_flip, have.sigmoid_flip),
        ];
        for (name, want, has) in asked {
            if want && !has {
                return Err(Error::Unsupported(format!(
                    "activation {:?} has no {name} symmetry",
                    spec.activation.name()
                )));
            }
        }
        Ok(Self::build(spec, remove))
    }

    fn build(spec: &MlpSpec, remove: Symmetries) -> Canonicalizer {
        let layers: Vec<Layer> = spec.hidden_layers().collect();
        let mut t_offsets = Vec::with_capacity(layers.len());
        let mut t = 0;
        for l in &layers {
            t_offsets.push(t);
            t += l.m;
        }
        let block = layers
            .iter()
            .map(|l| l.incoming_len().max(l.next_len()))
            .max()
            .unwrap_or(0);
        let widest = layers.iter().map(|l| l.m).max().unwrap_or(0);
        Canonicalizer {
            activation: spec.activation,
            remove,
            layers,
            t_offsets,
            d: spec.num_params(),
            hidden_total: t,
            block,
            widest,
        }
    }

    /// Number of network parameters `d`.
    pub fn num_params(&self) -> usize {
        self.d
    }

    /// Length `H` of one sample's transform (the number of hidden neurons).
    pub fn transform_len(&self) -> usize {
        self.hidden_total
    }

    fn scratch<T: Real>(&self) -> Scratch<T> {
        let m = self.widest;
        Scratch {
            row: vec![T::ZERO; self.d],
            a: vec![T::ZERO; self.block],
            b: vec![T::ZERO; self.block],
            dec: Decisions {
                perm: (0..m).collect(),
                sign: vec![T::ONE; m],
                scale: vec![T::ONE; m],
                key: vec![T::ZERO; m],
                key32: vec![0.0; m],
                live: vec![0; self.layers.len()],
                sign_at: vec![T::ONE; m],
                scale_at: vec![T::ONE; m],
                scaled: false,
            },
            settle: SettleScratch {
                order: vec![0; m],
                values: vec![T::ZERO; self.block],
                t_perm: vec![0; m],
                t_sign: vec![0; m],
                t_scale: vec![T::ZERO; m],
            },
        }
    }

    /// Canonicalizes `rows × row_len` values of `input` into `output` (same length), optionally
    /// recording the transform. A non-finite parameter is an [`Error::NonFinite`] naming the
    /// first such row; `output` is then unspecified.
    pub fn canonicalize_into<T: Real>(
        &self,
        input: &[T],
        output: &mut [T],
        row_len: usize,
        transform: Option<TransformMut<'_, T>>,
    ) -> Result<()> {
        let rows = check_rows(input.len(), row_len, self.d, "theta")?;
        if output.len() != input.len() {
            return Err(Error::Shape(format!(
                "output holds {} values, input {}",
                output.len(),
                input.len()
            )));
        }
        self.run(Some(input), output, row_len, rows, transform)
    }

    /// Canonicalizes `data` (`rows × row_len`) in place. Every row is checked first, so on an
    /// error nothing has been changed.
    pub fn canonicalize_in_place<T: Real>(
        &self,
        data: &mut [T],
        row_len: usize,
        transform: Option<TransformMut<'_, T>>,
    ) -> Result<()> {
        let rows = check_rows(data.len(), row_len, self.d, "theta")?;
        let d = self.d;
        let bad = data
            .par_chunks(row_len)
            .position_first(|row| !all_finite(&row[..d]));
        if let Some(index) = bad {
            return Err(Error::NonFinite {
                what: "theta".into(),
                index,
            });
        }
        self.run(None, data, row_len, rows, transform)
    }

    /// The parallel driver: each sample comes from `input` (or, in place, from `data` itself)
    /// and is written canonical into `data`.
    fn run<T: Real>(
        &self,
        input: Option<&[T]>,
        data: &mut [T],
        row_len: usize,
        rows: usize,
        transform: Option<TransformMut<'_, T>>,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        let per_task = rows_per_task(rows);
        let tasks = rows.div_ceil(per_task);
        let h = self.hidden_total;
        let pieces: Vec<Option<TransformMut<'_, T>>> = match transform {
            Some(t) if h > 0 => {
                let want = rows * h;
                if t.perm.len() != want || t.sign.len() != want || t.scale.len() != want {
                    return Err(Error::Shape(format!(
                        "transform buffers must hold {rows} x {h} entries each, got {}, {} and {}",
                        t.perm.len(),
                        t.sign.len(),
                        t.scale.len()
                    )));
                }
                t.split(per_task * h).into_iter().map(Some).collect()
            }
            _ => (0..tasks).map(|_| None).collect(),
        };
        let d = self.d;
        let bad = data
            .par_chunks_mut(per_task * row_len)
            .zip(pieces)
            .enumerate()
            .filter_map(|(task, (chunk, mut piece))| {
                let mut s = self.scratch::<T>();
                for (i, out) in chunk.chunks_mut(row_len).enumerate() {
                    let row = task * per_task + i;
                    // The sample is built in `s.row` and copied out in one go: a block copy
                    // writes whole cache lines without reading them first, the scattered
                    // writes of `pass` would not. In place, `s.row` holds the input instead.
                    let (src, x): (&[T], &mut [T]) = match input {
                        Some(input) => {
                            let src = &input[row * row_len..(row + 1) * row_len];
                            out[d..].copy_from_slice(&src[d..]);
                            (&src[..d], &mut s.row)
                        }
                        None => {
                            s.row.copy_from_slice(&out[..d]);
                            (&s.row, &mut out[..d])
                        }
                    };
                    if !all_finite(src) {
                        return Some(row);
                    }
                    let mut rec = piece.as_mut().map(|p| p.row(i, h));
                    self.pass(
                        src,
                        x,
                        &mut s.a,
                        &mut s.b,
                        &mut s.dec,
                        |l, inc, wout, dec| {
                            self.decide(l, inc, wout, dec);
                            if let Some(t) = rec.as_mut() {
                                let at = self.t_offsets[l.index];
                                for (k, &j) in dec.perm[..l.m].iter().enumerate() {
                                    t.perm[at + k] = j as i64;
                                    t.sign[at + k] = if dec.sign[j] < T::ZERO { -1 } else { 1 };
                                    t.scale[at + k] = dec.scale[j];
                                }
                            }
                        },
                    );
                    let dead = self.layers.iter().any(|l| s.dec.live[l.index] < l.m);
                    if dead && self.activation != Activation::Sigmoid {
                        self.settle_dead(x, &s.dec.live, &mut s.settle, rec.as_mut());
                    }
                    if input.is_some() {
                        out[..d].copy_from_slice(&s.row);
                    }
                }
                None
            })
            .min();
        match bad {
            Some(index) => Err(Error::NonFinite {
                what: "theta".into(),
                index,
            }),
            None => Ok(()),
        }
    }

    /// One sample: `src` (the original `d` values) is written transformed into `x`, layer by
    /// layer; `decide` fills in each layer's group element from its incoming block (rows
    /// already reordered by the previous layer) and its original outgoing weights.
    fn pass<T: Real, F>(
        &self,
        src: &[T],
        x: &mut [T],
        a: &mut Vec<T>,
        b: &mut Vec<T>,
        dec: &mut Decisions<T>,
        mut decide: F,
    ) where
        F: FnMut(&Layer, &[T], &[T], &mut Decisions<T>),
    {
        if self.layers.is_empty() {
            x.copy_from_slice(src);
            return;
        }
        let sigmoid = self.activation == Activation::Sigmoid;
        let last = self.layers.len() - 1;
        let (mut cur, mut nxt) = (a, b);
        for (li, l) in self.layers.iter().enumerate() {
            let inc: &[T] = if li == 0 {
                &src[l.w_in..l.w_in + l.incoming_len()]
            } else {
                &cur[..l.incoming_len()]
            };
            let wout = &src[l.w_out..l.b_next];
            let b_next = &src[l.b_next..l.b_next + l.fan_out];
            decide(l, inc, wout, dec);
            let (head, tail) = x.split_at_mut(l.w_out);
            let x_inc = &mut head[l.w_in..];
            let next: &mut [T] = if li == last {
                &mut tail[..l.next_len()]
            } else {
                &mut nxt[..l.next_len()]
            };
            dec.by_position(l.m);
            write_layer(l, inc, wout, b_next, x_inc, next, dec, sigmoid);
            std::mem::swap(&mut cur, &mut nxt);
        }
    }

    /// Steps 1–3 for one layer: fills `dec` (signs, scales, order).
    fn decide<T: Real>(&self, l: &Layer, inc: &[T], wout: &[T], dec: &mut Decisions<T>) {
        let m = l.m;
        let flips = self.remove.sign_flip || self.remove.sigmoid_flip;
        // Rows from the previous layer's dead neurons (sorted last) do not make a neuron live.
        let live_rows = if l.index == 0 || self.activation == Activation::Sigmoid {
            l.fan_in
        } else {
            dec.live[l.index - 1]
        };
        let bias = &inc[l.fan_in * m..];
        let live;
        if !self.remove.positive_scaling {
            // The common case first, branch-free over the layer: a nonzero bias settles the
            // sign (a random sign would defeat the branch predictor) and the key is |bias|.
            let mut zero_bias = false;
            let (sign, scale, key) = (&mut dec.sign[..m], &mut dec.scale[..m], &mut dec.key[..m]);
            for j in 0..m {
                let b = bias[j];
                let sg = if flips && b < T::ZERO {
                    -T::ONE
                } else {
                    T::ONE
                };
                sign[j] = sg;
                scale[j] = T::ONE;
                key[j] = b * sg;
                zero_bias |= b == T::ZERO;
            }
            let mut alive = m;
            if zero_bias {
                for (j, &b) in bias.iter().enumerate().filter(|(_, &b)| b == T::ZERO) {
                    if (0..live_rows).all(|i| inc[i * m + j] == T::ZERO) {
                        key[j] = T::INFINITY;
                        alive -= 1;
                    } else if flips {
                        sign[j] = first_nonzero_sign(inc, l, j, T::ONE, live_rows);
                        key[j] = b * sign[j];
                    }
                }
            }
            live = alive;
        } else {
            self.decide_scaled(l, inc, dec, live_rows);
            live = dec.live[l.index];
        }
        dec.live[l.index] = live;
        let perm = &mut dec.perm[..m];
        for (k, p) in perm.iter_mut().enumerate() {
            *p = k;
        }
        if !self.remove.permutation {
            return;
        }
        let (key, sign, scale) = (&dec.key, &dec.sign, &dec.scale);
        let order = |a: usize, b: usize| match cmp_values(key[a], key[b]) {
            // Dead neurons keep their order until `settle_dead`.
            Ordering::Equal if key[a] == T::INFINITY => Ordering::Equal,
            Ordering::Equal => compare_fixed(inc, wout, l, a, b, sign, scale, live_rows),
            o => o,
        };
        if m <= 64 {
            let key32 = &mut dec.key32[..m];
            for (k32, &k) in key32.iter_mut().zip(&key[..m]) {
                *k32 = k.to_f32();
            }
            if rank_sort(key32, perm) {
                return;
            }
        }
        for (k, p) in perm.iter_mut().enumerate() {
            *p = k;
        }
        if m <= 32 {
            // Insertion sort: stable, no allocation, and fast at these sizes.
            for i in 1..m {
                let p = perm[i];
                let mut k = i;
                while k > 0 && order(p, perm[k - 1]) == Ordering::Less {
                    perm[k] = perm[k - 1];
                    k -= 1;
                }
                perm[k] = p;
            }
        } else {
            perm.sort_by(|&a, &b| order(a, b));
        }
    }

    /// Steps 1 and 2 of a layer with positive scaling (and possibly sign flips).
    fn decide_scaled<T: Real>(
        &self,
        l: &Layer,
        inc: &[T],
        dec: &mut Decisions<T>,
        live_rows: usize,
    ) {
        let m = l.m;
        let flips = self.remove.sign_flip || self.remove.sigmoid_flip;
        let bias = &inc[l.fan_in * m..];
        let mut live = 0;
        for (j, &b) in bias.iter().enumerate() {
            let dead = b == T::ZERO && (0..live_rows).all(|i| inc[i * m + j] == T::ZERO);
            let r = if !dead {
                incoming_norm(inc, l, j, live_rows)
            } else {
                T::ONE
            };
            let sg = if flips && !dead {
                first_nonzero_sign(inc, l, j, r, live_rows)
            } else {
                T::ONE
            };
            dec.scale[j] = r;
            dec.sign[j] = sg;
            // Dividing by 1 is exact, and skipped: the common case has no scales.
            let fixed = if r == T::ONE { b * sg } else { (b / r) * sg };
            dec.key[j] = if dead { T::INFINITY } else { fixed };
            live += usize::from(!dead);
        }
        dec.live[l.index] = live;
    }
}

/// `‖(bias, weights from the live_rows live neurons)‖₂` of neuron `j` of an incoming block,
/// without overflow or underflow (scaled by the largest entry, nonzero for a live neuron).
/// Weights from dead neurons are left out: their own scale is arbitrary.
fn incoming_norm<T: Real>(inc: &[T], l: &Layer, j: usize, live_rows: usize) -> T {
    let rows = || (0..live_rows).chain(std::iter::once(l.fan_in));
    let a = rows().fold(T::ZERO, |a, i| a.max(inc[i * l.m + j].abs()));
    let mut sum = T::ZERO;
    for i in rows() {
        let q = inc[i * l.m + j] / a;
        sum += q * q;
    }
    a * sum.sqrt()
}

/// Sorts small layers without branches: each neuron's rank is the number of smaller keys,
/// counted on keys rounded to f32 (twice the SIMD lanes; rounding keeps the order). Returns
/// false, leaving `perm` scrambled, when two rounded keys are equal (they share a rank, so a
/// slot stays empty); then the full comparison has to decide.
fn rank_sort(key: &[f32], perm: &mut [usize]) -> bool {
    perm.fill(usize::MAX);
    for (j, &kj) in key.iter().enumerate() {
        let rank = key.iter().map(|&ki| u32::from(ki < kj)).sum::<u32>();
        perm[rank as usize] = j;
    }
    !perm.contains(&usize::MAX)
}

/// Step 2's choice for a live neuron, after scaling by `r`: the sign of the first nonzero of
/// (bias, weights from the `live_rows` live neurons of the previous layer).
fn first_nonzero_sign<T: Real>(inc: &[T], l: &Layer, j: usize, r: T, live_rows: usize) -> T {
    let bias = inc[l.fan_in * l.m + j];
    if r == T::ONE && bias != T::ZERO {
        // The common case, without a division.
        return if bias < T::ZERO { -T::ONE } else { T::ONE };
    }
    let first = std::iter::once(bias)
        .chain((0..live_rows).map(|i| inc[i * l.m + j]))
        .map(|v| v / r)
        .find(|&v| v != T::ZERO);
    match first {
        Some(v) if v < T::ZERO => -T::ONE,
        _ => T::ONE,
    }
}

/// Step 3's key after the bias, for two live neurons: weights from live neurons, outgoing
/// weights, weights from dead neurons, as steps 1 and 2 leave them (computed exactly as
/// `write_layer` computes them).
#[allow(clippy::too_many_arguments)]
fn compare_fixed<T: Real>(
    inc: &[T],
    wout: &[T],
    l: &Layer,
    a: usize,
    b: usize,
    sign: &[T],
    scale: &[T],
    live_rows: usize,
) -> Ordering {
    let incoming = |rows: std::ops::Range<usize>| {
        for row in inc[rows.start * l.m..rows.end * l.m].chunks_exact(l.m) {
            let va = (row[a] / scale[a]) * sign[a];
            let vb = (row[b] / scale[b]) * sign[b];
            let o = cmp_values(va, vb);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    let outgoing = || {
        let n = l.fan_out;
        let (ra, rb) = (&wout[a * n..(a + 1) * n], &wout[b * n..(b + 1) * n]);
        for (&xa, &xb) in ra.iter().zip(rb) {
            let o = cmp_values((xa * scale[a]) * sign[a], (xb * scale[b]) * sign[b]);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    incoming(0..live_rows)
        .then_with(outgoing)
        .then_with(|| incoming(live_rows..l.fan_in))
}

/// Carries out a layer's group element: the incoming block (rows already reordered) goes to
/// `x_inc` with its columns reordered, divided by the scales and multiplied by the signs; the
/// next layer's block (its rows reordered, multiplied by scale and sign, then its bias with the
/// sigmoid's update) goes to `next`. Dividing by 1 and multiplying by ±1 are exact, so layers
/// without scales take a faster path with the same result.
#[allow(clippy::too_many_arguments)]
fn write_layer<T: Real>(
    l: &Layer,
    inc: &[T],
    wout: &[T],
    b_next: &[T],
    x_inc: &mut [T],
    next: &mut [T],
    dec: &Decisions<T>,
    sigmoid: bool,
) {
    let (m, n) = (l.m, l.fan_out);
    let (perm, sign, scale) = (&dec.perm[..m], &dec.sign[..m], &dec.scale[..m]);
    let (sign_at, scale_at) = (&dec.sign_at[..m], &dec.scale_at[..m]);
    let scaled = dec.scaled;
    let x_inc = &mut x_inc[..inc.len()];
    if scaled {
        for (src, dst) in inc.chunks_exact(m).zip(x_inc.chunks_exact_mut(m)) {
            for k in 0..m {
                dst[k] = (src[perm[k]] / scale_at[k]) * sign_at[k];
            }
        }
    } else {
        // Four rows at a time share each index load and bounds check (the hot loop).
        let mut src4 = inc.chunks_exact(4 * m);
        let mut dst4 = x_inc.chunks_exact_mut(4 * m);
        for (src, dst) in (&mut src4).zip(&mut dst4) {
            let (s0, rest) = src.split_at(m);
            let (s1, rest) = rest.split_at(m);
            let (s2, s3) = rest.split_at(m);
            let (d0, rest) = dst.split_at_mut(m);
            let (d1, rest) = rest.split_at_mut(m);
            let (d2, d3) = rest.split_at_mut(m);
            for k in 0..m {
                let (p, sg) = (perm[k], sign_at[k]);
                d0[k] = s0[p] * sg;
                d1[k] = s1[p] * sg;
                d2[k] = s2[p] * sg;
                d3[k] = s3[p] * sg;
            }
        }
        let rest = src4.remainder().chunks_exact(m);
        for (src, dst) in rest.zip(dst4.into_remainder().chunks_exact_mut(m)) {
            for k in 0..m {
                dst[k] = src[perm[k]] * sign_at[k];
            }
        }
    }
    let (w_dst, b_dst) = next.split_at_mut(m * n);
    for ((dst, &p), (&r, &sg)) in w_dst
        .chunks_exact_mut(n)
        .zip(perm)
        .zip(scale_at.iter().zip(sign_at))
    {
        let src = &wout[p * n..(p + 1) * n];
        if scaled {
            for (v, &o) in dst.iter_mut().zip(src) {
                *v = (o * r) * sg;
            }
        } else {
            for (v, &o) in dst.iter_mut().zip(src) {
                *v = o * sg;
            }
        }
    }
    b_dst.copy_from_slice(b_next);
    if sigmoid {
        // In original neuron order, so that every path rounds alike.
        for (j, &sg) in sign.iter().enumerate() {
            if sg < T::ZERO {
                for (v, &o) in b_dst.iter_mut().zip(&wout[j * n..(j + 1) * n]) {
                    *v += o * scale[j];
                }
            }
        }
    }
}

/// Canonicalizes a batch of flat vectors (`len` a multiple of `d`) into a new vector.
pub fn canonicalize<T: Real>(spec: &MlpSpec, theta: &[T]) -> Result<Vec<T>> {
    let canon = Canonicalizer::new(spec);
    let mut out = vec![T::ZERO; theta.len()];
    canon.canonicalize_into(theta, &mut out, canon.d, None)?;
    Ok(out)
}

/// Like [`canonicalize`], also returning the transform that maps `theta` to the result.
pub fn canonicalize_with_transform<T: Real>(
    spec: &MlpSpec,
    theta: &[T],
) -> Result<(Vec<T>, Transform<T>)> {
    let canon = Canonicalizer::new(spec);
    let rows = check_rows(theta.len(), canon.d, canon.d, "theta")?;
    let mut out = vec![T::ZERO; theta.len()];
    let mut t = Transform::identity(&canon, rows);
    canon.canonicalize_into(theta, &mut out, canon.d, Some(t.as_mut()))?;
    Ok((out, t))
}

#[cfg(test)]
mod tests;
