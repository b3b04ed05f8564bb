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
use crate::spec::{Activation, MlpSpec, Symmetries};

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

/// One hidden layer's place in the flat vector. The incoming block (weights, then bias) is
/// `(m_in + 1) × m` values from `w`; the next layer's block is `(m + 1) × m_out` from `w_next`.
#[derive(Debug, Clone)]
struct Layer {
    /// Index among the hidden layers.
    idx: usize,
    m_in: usize,
    m: usize,
    m_out: usize,
    w: usize,
    w_next: usize,
    b_next: usize,
    /// Offset of this layer in a transform row.
    t: usize,
}

impl Layer {
    fn incoming_len(&self) -> usize {
        (self.m_in + 1) * self.m
    }

    fn next_len(&self) -> usize {
        (self.m + 1) * self.m_out
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
        let s = &spec.sizes;
        let mut layers = Vec::with_capacity(spec.num_hidden());
        let mut t = 0;
        for l in 0..spec.num_hidden() {
            layers.push(Layer {
                idx: l,
                m_in: s[l],
                m: s[l + 1],
                m_out: s[l + 2],
                w: spec.weight_offset(l),
                w_next: spec.weight_offset(l + 1),
                b_next: spec.bias_offset(l + 1),
                t,
            });
            t += s[l + 1];
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

    /// The symmetries this map removes.
    pub fn removes(&self) -> Symmetries {
        self.remove
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
                                for (k, &j) in dec.perm[..l.m].iter().enumerate() {
                                    t.perm[l.t + k] = j as i64;
                                    t.sign[l.t + k] = if dec.sign[j] < T::ZERO { -1 } else { 1 };
                                    t.scale[l.t + k] = dec.scale[j];
                                }
                            }
                        },
                    );
                    let dead = self.layers.iter().any(|l| s.dec.live[l.idx] < l.m);
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
                &src[l.w..l.w + l.incoming_len()]
            } else {
                &cur[..l.incoming_len()]
            };
            let wout = &src[l.w_next..l.b_next];
            let b_next = &src[l.b_next..l.b_next + l.m_out];
            decide(l, inc, wout, dec);
            let (head, tail) = x.split_at_mut(l.w_next);
            let x_inc = &mut head[l.w..];
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
        let live_rows = if l.idx == 0 || self.activation == Activation::Sigmoid {
            l.m_in
        } else {
            dec.live[l.idx - 1]
        };
        let bias = &inc[l.m_in * m..];
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
            live = dec.live[l.idx];
        }
        dec.live[l.idx] = live;
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
        let bias = &inc[l.m_in * m..];
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
        dec.live[l.idx] = live;
    }

    /// The end of canonicalization for dead neurons (see the module docs), on the finished
    /// sample `x`, from the last hidden layer back; `rec` follows along.
    fn settle_dead<T: Real>(
        &self,
        x: &mut [T],
        live: &[usize],
        s: &mut SettleScratch<T>,
        mut rec: Option<&mut TransformMut<'_, T>>,
    ) {
        for l in self.layers.iter().rev() {
            let (m, n, live) = (l.m, l.m_out, live[l.idx]);
            if live == m {
                continue;
            }
            if self.remove.positive_scaling {
                // A dead neuron's scale can only show in its outgoing weights: make them a unit
                // vector (this rounds, unlike everything else that touches dead neurons).
                for k in live..m {
                    let out = &mut x[l.w_next + k * n..l.w_next + (k + 1) * n];
                    let a = out.iter().fold(T::ZERO, |a, &v| a.max(v.abs()));
                    if a == T::ZERO {
                        continue;
                    }
                    let norm = a * out
                        .iter()
                        .fold(T::ZERO, |s, &v| s + (v / a) * (v / a))
                        .sqrt();
                    let r = T::ONE / norm;
                    if r > T::MAX {
                        continue;
                    }
                    for v in out.iter_mut() {
                        *v = *v / norm;
                    }
                    // Weights from dead neurons may be nonzero; they take the inverse factor.
                    for i in 0..=l.m_in {
                        x[l.w + i * m + k] = x[l.w + i * m + k] * norm;
                    }
                    if let Some(t) = rec.as_mut() {
                        t.scale[l.t + k] = t.scale[l.t + k] * r;
                    }
                }
            }
            if self.remove.sign_flip {
                for k in live..m {
                    let out = x[l.w_next + k * n..l.w_next + (k + 1) * n].iter().copied();
                    let incoming = (0..=l.m_in).map(|i| x[l.w + i * m + k]);
                    let first = out.chain(incoming).find(|&v| v != T::ZERO);
                    if first.is_some_and(|v| v < T::ZERO) {
                        for i in 0..=l.m_in {
                            x[l.w + i * m + k] = -x[l.w + i * m + k];
                        }
                        for v in &mut x[l.w_next + k * n..l.w_next + (k + 1) * n] {
                            *v = -*v;
                        }
                        if let Some(t) = rec.as_mut() {
                            t.sign[l.t + k] = -t.sign[l.t + k];
                        }
                    }
                }
            }
            if !self.remove.permutation || m - live < 2 {
                continue;
            }
            let order = &mut s.order[..m - live];
            for (q, o) in order.iter_mut().enumerate() {
                *o = live + q;
            }
            let key = |a: usize, b: usize| {
                let (ra, rb) = (l.w_next + a * n, l.w_next + b * n);
                let by_out = (0..n).map(|k| cmp_values(x[ra + k], x[rb + k]));
                let by_in =
                    (0..=l.m_in).map(|i| cmp_values(x[l.w + i * m + a], x[l.w + i * m + b]));
                by_out
                    .chain(by_in)
                    .find(|&o| o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            };
            order.sort_by(|&a, &b| key(a, b));
            if order.iter().enumerate().all(|(q, &o)| o == live + q) {
                continue;
            }
            let tmp = &mut s.values;
            for i in 0..=l.m_in {
                let row = &mut x[l.w + i * m + live..l.w + (i + 1) * m];
                tmp[..row.len()].copy_from_slice(row);
                for (v, &o) in row.iter_mut().zip(order.iter()) {
                    *v = tmp[o - live];
                }
            }
            let block = &mut x[l.w_next + live * n..l.w_next + m * n];
            tmp[..block.len()].copy_from_slice(block);
            for (dst, &o) in block.chunks_exact_mut(n).zip(order.iter()) {
                dst.copy_from_slice(&tmp[(o - live) * n..(o - live + 1) * n]);
            }
            if let Some(t) = rec.as_mut() {
                let (at, k) = (l.t + live, m - live);
                s.t_perm[..k].copy_from_slice(&t.perm[at..at + k]);
                s.t_sign[..k].copy_from_slice(&t.sign[at..at + k]);
                s.t_scale[..k].copy_from_slice(&t.scale[at..at + k]);
                for (q, &o) in order.iter().enumerate() {
                    t.perm[at + q] = s.t_perm[o - live];
                    t.sign[at + q] = s.t_sign[o - live];
                    t.scale[at + q] = s.t_scale[o - live];
                }
            }
        }
    }

    /// Checks that every row of `t` is an element of this activation's group: permutations of
    /// each layer, signs ±1 (−1 only with a sign or sigmoid flip), finite positive scales (≠ 1
    /// only with positive scaling). Returns the number of rows in `t`.
    fn check_transform<T: Real>(&self, t: &TransformRef<'_, T>) -> Result<usize> {
        let h = self.hidden_total;
        let n = t.perm.len();
        if t.sign.len() != n || t.scale.len() != n || (h == 0 && n != 0) || (h > 0 && n % h != 0) {
            return Err(Error::Shape(format!(
                "transform arrays must hold rows of {h} entries each, got {}, {} and {} entries",
                t.perm.len(),
                t.sign.len(),
                t.scale.len()
            )));
        }
        let rows = n.checked_div(h).unwrap_or(0);
        let sym = self.activation.symmetries();
        let flips = sym.sign_flip || sym.sigmoid_flip;
        let act = self.activation.name();
        let bad = (0..rows).into_par_iter().find_map_first(|row| {
            let mut seen = vec![false; self.widest];
            for (l, layer) in self.layers.iter().enumerate() {
                let at = row * h + layer.t;
                seen[..layer.m].fill(false);
                for k in 0..layer.m {
                    let p = t.perm[at + k];
                    if p < 0 || p as usize >= layer.m || seen[p as usize] {
                        return Some(Error::Value(format!(
                            "transform row {row}, hidden layer {l}: the permutation {:?} is \
                             not a permutation of 0..{}",
                            &t.perm[at..at + layer.m],
                            layer.m
                        )));
                    }
                    seen[p as usize] = true;
                    let sign = t.sign[at + k];
                    if sign != 1 && sign != -1 {
                        return Some(Error::Value(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: sign {sign} is \
                             not +1 or -1"
                        )));
                    }
                    if sign == -1 && !flips {
                        return Some(Error::Unsupported(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: a sign flip, \
                             which activation {act:?} does not have"
                        )));
                    }
                    let c = t.scale[at + k];
                    if !(c > T::ZERO && c <= T::MAX) {
                        return Some(Error::Value(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: scale {} is \
                             not positive and finite",
                            c.to_f64()
                        )));
                    }
                    if c != T::ONE && !sym.positive_scaling {
                        return Some(Error::Unsupported(format!(
                            "transform row {row}, hidden layer {l}, neuron {k}: scale {}, but \
                             activation {act:?} has no positive scaling",
                            c.to_f64()
                        )));
                    }
                }
            }
            None
        });
        match bad {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// Applies transform `t` to `data` (`rows × row_len`) in place: row `i` gets row `i` of
    /// `t`, or its only row. `apply(θ, T(θ))` equals `canonicalize(θ)` bit for bit (up to
    /// rounding in dead neurons' rescaled outgoing weights). The
    /// transform is checked first, so on an error nothing has been changed.
    pub fn apply<T: Real>(
        &self,
        data: &mut [T],
        row_len: usize,
        t: TransformRef<'_, T>,
    ) -> Result<()> {
        self.transform(data, row_len, t, false)
    }

    /// Undoes [`Canonicalizer::apply`]: `invert(apply(θ, t), t) == θ` (exactly for
    /// permutations and signs, to rounding for scales and the sigmoid flip).
    pub fn invert<T: Real>(
        &self,
        data: &mut [T],
        row_len: usize,
        t: TransformRef<'_, T>,
    ) -> Result<()> {
        self.transform(data, row_len, t, true)
    }

    fn transform<T: Real>(
        &self,
        data: &mut [T],
        row_len: usize,
        t: TransformRef<'_, T>,
        inverse: bool,
    ) -> Result<()> {
        let rows = check_rows(data.len(), row_len, self.d, "theta")?;
        let t_rows = self.check_transform(&t)?;
        let h = self.hidden_total;
        if h == 0 || rows == 0 {
            return Ok(());
        }
        if t_rows != rows && t_rows != 1 {
            return Err(Error::Shape(format!(
                "the transform has {t_rows} rows but theta has {rows} (they must match, or the \
                 transform must have one row)"
            )));
        }
        let per_task = rows_per_task(rows);
        let d = self.d;
        data.par_chunks_mut(per_task * row_len)
            .enumerate()
            .for_each(|(task, chunk)| {
                let mut s = self.scratch::<T>();
                for (i, out) in chunk.chunks_mut(row_len).enumerate() {
                    let row = if t_rows == 1 { 0 } else { task * per_task + i };
                    let at = row * h;
                    let tr = TransformRef {
                        perm: &t.perm[at..at + h],
                        sign: &t.sign[at..at + h],
                        scale: &t.scale[at..at + h],
                    };
                    if inverse {
                        self.invert_row(&mut out[..d], &mut s, tr);
                    } else {
                        s.row.copy_from_slice(&out[..d]);
                        let src = &s.row;
                        self.pass(
                            src,
                            &mut out[..d],
                            &mut s.a,
                            &mut s.b,
                            &mut s.dec,
                            |l, _, _, dec| {
                                read_layer(l, tr, dec);
                            },
                        );
                    }
                }
            });
        Ok(())
    }

    fn invert_row<T: Real>(&self, x: &mut [T], s: &mut Scratch<T>, t: TransformRef<'_, T>) {
        let sigmoid = self.activation == Activation::Sigmoid;
        for l in self.layers.iter().rev() {
            read_layer(l, t, &mut s.dec);
            let (perm, sign, scale) = (&s.dec.perm[..l.m], &s.dec.sign, &s.dec.scale);
            unfix_and_scatter(x, l, perm, sign, scale, &mut s.a);
            if sigmoid {
                // The rows are back in place: take back what each flipped neuron added.
                for (j, &sg) in sign[..l.m].iter().enumerate() {
                    if sg < T::ZERO {
                        for k in 0..l.m_out {
                            let v = x[l.w_next + j * l.m_out + k] * scale[j];
                            x[l.b_next + k] -= v;
                        }
                    }
                }
            }
        }
    }
}

/// A layer's group element from a transform row (canonical order) into `dec` (original order).
fn read_layer<T: Real>(l: &Layer, t: TransformRef<'_, T>, dec: &mut Decisions<T>) {
    for k in 0..l.m {
        let p = t.perm[l.t + k] as usize;
        dec.perm[k] = p;
        dec.sign[p] = if t.sign[l.t + k] < 0 { -T::ONE } else { T::ONE };
        dec.scale[p] = t.scale[l.t + k];
    }
}

/// `‖(bias, weights from the live_rows live neurons)‖₂` of neuron `j` of an incoming block,
/// without overflow or underflow (scaled by the largest entry, nonzero for a live neuron).
/// Weights from dead neurons are left out: their own scale is arbitrary.
fn incoming_norm<T: Real>(inc: &[T], l: &Layer, j: usize, live_rows: usize) -> T {
    let rows = || (0..live_rows).chain(std::iter::once(l.m_in));
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
    let bias = inc[l.m_in * l.m + j];
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
        let n = l.m_out;
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
        .then_with(|| incoming(live_rows..l.m_in))
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
    let (m, n) = (l.m, l.m_out);
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

/// Inverse of one layer of [`write_layer`], in place: the neuron at position `k` goes back to
/// `perm[k]`, its sign and scale undone (the sigmoid's bias update is undone by the caller).
fn unfix_and_scatter<T: Real>(
    x: &mut [T],
    l: &Layer,
    perm: &[usize],
    sign: &[T],
    scale: &[T],
    tmp: &mut [T],
) {
    let m = l.m;
    let inc = &mut x[l.w..l.w + l.incoming_len()];
    tmp[..inc.len()].copy_from_slice(inc);
    for (src, dst) in tmp.chunks_exact(m).zip(inc.chunks_exact_mut(m)) {
        for (k, &p) in perm.iter().enumerate() {
            dst[p] = (src[k] * sign[p]) * scale[p];
        }
    }
    let n = l.m_out;
    let block = &mut x[l.w_next..l.b_next];
    tmp[..m * n].copy_from_slice(block);
    for (k, &p) in perm.iter().enumerate() {
        let (r, sg) = (scale[p], sign[p]);
        for (v, &o) in block[p * n..(p + 1) * n]
            .iter_mut()
            .zip(&tmp[k * n..(k + 1) * n])
        {
            *v = (o * sg) / r;
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
mod tests {
    use super::*;

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

    fn act(a: Activation, z: f64) -> f64 {
        match a {
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu => {
                if z > 0.0 {
                    z
                } else {
                    0.01 * z
                }
            }
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Sin => z.sin(),
            Activation::Silu => z / (1.0 + (-z).exp()),
            // Any odd-free smooth function will do for the permutation-only check.
            Activation::Gelu => z * 0.5 * (1.0 + (z / 2f64.sqrt()).tanh()),
            Activation::Identity => z,
        }
    }

    fn forward(spec: &MlpSpec, theta: &[f64], x: &[f64]) -> Vec<f64> {
        let mut h = x.to_vec();
        for l in 0..spec.num_layers() {
            let (a, b) = (spec.sizes[l], spec.sizes[l + 1]);
            let (w, bias) = (spec.weight_offset(l), spec.bias_offset(l));
            let mut z: Vec<f64> = (0..b).map(|j| theta[bias + j]).collect();
            for i in 0..a {
                for j in 0..b {
                    z[j] += h[i] * theta[w + i * b + j];
                }
            }
            if l + 1 < spec.num_layers() {
                z.iter_mut().for_each(|v| *v = act(spec.activation, *v));
            }
            h = z;
        }
        h
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
                let (y0, y1) = (forward(&spec, &theta, &x), forward(&spec, &c, &x));
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
}
