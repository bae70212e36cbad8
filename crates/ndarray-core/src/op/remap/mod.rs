//! Ops whose every output element is a copy of one data element or a fill value: `reverse`
//! (`flip`), `depth_to_space`, `space_to_depth`, `Pad` (`pad`), `UpSampling` (nearest),
//! `slice_like`, `diag`, and `SequenceMask`, `SequenceLast`, `SequenceReverse`.
//!
//! Each describes itself by a [`Remap`]: the output shape and, per output element, the index
//! of the data element it copies (or `-1` for the fill value). One forward op gathers through
//! that map and one `_backward_X` op scatter-adds the output gradient back through it, so every
//! op of the family gets its gradient from the same two kernels. Inputs after the data (the
//! sequence lengths, `slice_like`'s shape source) only steer the map and get zero gradients.

mod maps;
pub(super) mod register;
mod sequence;

use std::fmt;

use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::Error;
use crate::error::Result;
use crate::op::grad::{Grads, dtype_of_input};
use crate::op::registry::Registry;
use crate::op::{Attrs, CreateFn, GradBuilder, NodeEntry, OpCtx, Operator, ParamSpec, TensorIn, expect_inputs};
use crate::shape::{Shape, fmt_shape, strides_of};
use crate::storage::{CpuStorage, StorageElement};

/// An index-map op.
pub(super) trait Remap: Send + Sync + fmt::Debug {
    /// The registered name, for messages.
    fn name(&self) -> &'static str;
    /// Number of inputs (data first).
    fn num_inputs(&self) -> usize {
        1
    }
    /// Input names of this instance, when they depend on the attributes.
    fn input_names(&self) -> Option<Vec<String>> {
        None
    }
    /// The output shape.
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape>;
    /// For every output element the flat index of the data element it copies, `-1` for the
    /// fill value. `aux` holds the values of the inputs after the data.
    fn map(&self, inputs: &[Shape], out: &[usize], aux: &[Vec<f64>]) -> Result<Vec<i64>>;
    /// The value of unmapped output elements.
    fn fill(&self) -> f64 {
        0.0
    }
    /// For a map that only reverses axes (`reverse`), which of the `ndim` axes it reverses:
    /// the forward pass then copies rows directly instead of building the map.
    fn flipped_axes(&self, _ndim: usize) -> Option<Vec<bool>> {
        None
    }
}

/// `v` (of `shape`) with the axes marked in `flip` reversed, copied a row (last axis) at a
/// time (the element-by-element map took 5 ns an element) into a pooled buffer; runs of rows
/// split as `split` says (the team's helpers for a mid-sized array on the calling thread:
/// `flip` of 1000x100 float32 is one short pass, as `relu` is).
fn reverse_rows<T: StorageElement + Send + Sync>(
    v: &[T],
    shape: &[usize],
    flip: &[bool],
    split: impl FnOnce(usize) -> crate::backend::cpu::Split,
) -> Vec<T> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Vec::new();
    }
    if shape.is_empty() {
        return v.to_vec();
    }
    // Trailing axes that keep their order are one contiguous row (`flip` of a batch of images
    // along the batch axis copies whole images).
    let cut = shape.len() - flip.iter().rev().take_while(|&&f| !f).count().min(shape.len() - 1);
    let (shape, flip) = if cut < shape.len() {
        let merged = shape[..cut].iter().copied().chain([shape[cut..].iter().product()]).collect();
        (merged, flip[..cut].iter().copied().chain([false]).collect())
    } else {
        (shape.to_vec(), flip.to_vec())
    };
    let last = shape[shape.len() - 1];
    let strides = strides_of(&shape);
    let outer = &shape[..shape.len() - 1];
    // A row's first source element: `first + sum(oc[d] * step[d])` over its outer coordinates.
    let step: Vec<isize> =
        (0..outer.len()).map(|d| if flip[d] { -(strides[d] as isize) } else { strides[d] as isize }).collect();
    let first: isize = (0..outer.len()).filter(|&d| flip[d]).map(|d| ((outer[d] - 1) * strides[d]) as isize).sum();
    let reversed = flip[outer.len()];
    let mut out: Vec<T> = crate::pool::alloc(n);
    crate::backend::cpu::rows_mut(split(n), &mut out, last, |start, rows| {
        // The outer coordinates of the run's first row, and its source offset.
        let mut oc = vec![0usize; outer.len()];
        let mut r = start / last;
        let mut base = first;
        for d in (0..outer.len()).rev() {
            oc[d] = r % outer[d];
            r /= outer[d];
            base += oc[d] as isize * step[d];
        }
        copy_rows(rows, v, Rows { last, reversed, outer, step: &step }, &mut oc, base);
    });
    out
}

/// The layout of [`copy_rows`]'s source rows.
#[derive(Clone, Copy)]
struct Rows<'a> {
    /// Elements of a row.
    last: usize,
    /// Whether each row is copied back to front.
    reversed: bool,
    /// The outer axes' sizes.
    outer: &'a [usize],
    /// The source offset's step along each outer axis.
    step: &'a [isize],
}

crate::backend::cpu::simd_fn! {
    /// The rows of `dst`, each copied from `v` at the source offset `base` (back to front when
    /// reversed), the outer coordinates `oc` and `base` then counted up a row. One call per run
    /// of rows, where a call per row paid its CPU-feature dispatch on every row: on a 2-vCPU
    /// EPYC (Zen 4), `flip` of 1000x100 float32 along either axis went from 8.4-8.9 to 7.2-7.9
    /// µs, of 16x3x32x32 along the width from 7.0-7.4 to 5.3-5.7.
    fn copy_rows[T: Copy](dst: &mut [T], v: &[T], l: Rows<'_>, oc: &mut [usize], base: isize) {
        let mut base = base;
        for row in dst.chunks_exact_mut(l.last) {
            let src = &v[base as usize..base as usize + l.last];
            if l.reversed {
                row.iter_mut().zip(src.iter().rev()).for_each(|(o, &x)| *o = x);
            } else {
                row.copy_from_slice(src);
            }
            for d in (0..l.outer.len()).rev() {
                oc[d] += 1;
                base += l.step[d];
                if oc[d] < l.outer[d] {
                    break;
                }
                oc[d] = 0;
                base -= l.outer[d] as isize * l.step[d];
            }
        }
    }
}

/// Build a map from output coordinates: `f(out_coords, in_coords)` fills the input coordinates
/// and returns false for an unmapped element.
pub(super) fn map_coords(out: &[usize], inp: &[usize], f: impl Fn(&[usize], &mut [usize]) -> bool) -> Vec<i64> {
    let n: usize = out.iter().product();
    let is = strides_of(inp);
    let mut oc = vec![0usize; out.len()];
    let mut ic = vec![0usize; inp.len()];
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        if f(&oc, &mut ic) {
            v.push(ic.iter().zip(&is).map(|(a, b)| a * b).sum::<usize>() as i64);
        } else {
            v.push(-1);
        }
        for d in (0..out.len()).rev() {
            oc[d] += 1;
            if oc[d] < out[d] {
                break;
            }
            oc[d] = 0;
        }
    }
    v
}

fn aux_values(x: &[TensorIn<'_>]) -> Vec<Vec<f64>> {
    x[1..]
        .iter()
        .map(|t| dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|a| a.to_f64()).collect() }))
        .collect()
}

fn shapes(x: &[TensorIn<'_>]) -> Vec<Shape> {
    x.iter().map(|t| t.shape.to_vec()).collect()
}

#[derive(Debug)]
struct RemapOp(Box<dyn Remap>);

impl Operator for RemapOp {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn input_names(&self) -> Option<Vec<String>> {
        self.0.input_names()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.0.name(), inputs.len(), self.0.num_inputs())?;
        Ok(vec![self.0.out_shape(inputs)?])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        dtype_of_input(self.0.name(), 0, inputs, outputs)?;
        if let Some(d) = inputs[0] {
            for slot in inputs[1..].iter_mut() {
                slot.get_or_insert(d);
            }
        }
        Ok(())
    }
    fn inline_when_waited(&self, inputs: &[Shape]) -> bool {
        inputs.first().is_some_and(|s| self.0.flipped_axes(s.len()).is_some())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        if let Some(flip) = self.0.flipped_axes(x[0].shape.len()) {
            let t = &x[0];
            let par = ctx.par;
            return Ok(vec![dispatch!(storage t.data => v: T, {
                T::wrap(reverse_rows(&v[t.offset..t.offset + t.len()], t.shape, &flip, |n| par.split_cheap_mode(n)))
            })]);
        }
        let map = self.0.map(&shapes(x), &out[0], &aux_values(x))?;
        let fill = self.0.fill();
        let t = &x[0];
        Ok(vec![dispatch!(storage t.data => v: T, {
            let v = &v[t.offset..t.offset + t.len()];
            let f = T::from_f64(fill);
            T::wrap(map.iter().map(|&i| if i < 0 { f } else { v[i as usize] }).collect())
        })])
    }
}

/// `_backward_X(ograd, data, aux...)`: the data gradient, the output gradient scattered back
/// through the map and summed where several outputs copy one element.
#[derive(Debug)]
struct RemapBackward(&'static str, Box<dyn Remap>);

impl Operator for RemapBackward {
    fn name(&self) -> &str {
        self.0
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let rest = self.1.input_names().unwrap_or_else(|| vec!["data".to_string()]);
        Some(std::iter::once("ograd".to_string()).chain(rest).collect())
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.0, inputs.len(), self.1.num_inputs() + 1)?;
        let out = self.1.out_shape(&inputs[1..])?;
        if inputs[0] != out {
            return Err(Error::shape(
                self.0,
                format!("output gradient has shape {} but {} is expected", fmt_shape(&inputs[0]), fmt_shape(&out)),
            ));
        }
        Ok(vec![inputs[1].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        dtype_of_input(self.0, 0, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let map = self.1.map(&shapes(&x[1..]), x[0].shape, &aux_values(&x[1..]))?;
        let n: usize = out[0].iter().product();
        dispatch!(float self.0, dt[0] => T, {
            let g = x[0].typed::<T>();
            let mut dx = vec![0f64; n];
            for (&i, &gv) in map.iter().zip(g) {
                if i >= 0 {
                    dx[i as usize] += gv.to_f64();
                }
            }
            Ok(vec![T::wrap(dx.into_iter().map(T::from_f64).collect())])
        })
    }
}

/// The gradient of a remap op through its `_backward_X` op; the other inputs get zeros.
pub(super) fn remap_gradient(
    b: &mut dyn GradBuilder,
    back: &str,
    a: &Attrs,
    x: &[NodeEntry],
    g: &[NodeEntry],
) -> Grads {
    let mut ins = vec![g[0]];
    ins.extend_from_slice(x);
    let dx = b.apply(back, &ins, a.clone())?;
    let mut out = vec![Some(dx)];
    for &e in &x[1..] {
        out.push(Some(b.unary("zeros_like", e)?));
    }
    Ok(out)
}

/// One remap op to register.
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) back: &'static str,
    pub(super) inputs: &'static [&'static str],
    pub(super) params: &'static [ParamSpec],
    pub(super) doc: &'static str,
    pub(super) create: fn(&'static str, &Attrs) -> Result<Box<dyn Remap>>,
    pub(super) grad: crate::op::GradFn,
    pub(super) aliases: &'static [&'static str],
}

/// Define a gradient function for the remap op whose backward op is `$back`.
macro_rules! remap_grad {
    ($f:ident, $back:literal) => {
        fn $f(
            b: &mut dyn $crate::op::GradBuilder,
            a: &$crate::op::Attrs,
            x: &[$crate::op::NodeEntry],
            _: &[$crate::op::NodeEntry],
            g: &[$crate::op::NodeEntry],
        ) -> $crate::error::Result<Vec<Option<$crate::op::NodeEntry>>> {
            super::remap_gradient(b, $back, a, x, g)
        }
    };
}
pub(super) use remap_grad;

/// Register one remap op, its `_backward_X` op, gradient and aliases.
pub(super) fn add(r: &mut Registry, s: Spec) {
    let (name, back, create) = (s.name, s.back, s.create);
    let fwd: CreateFn =
        std::sync::Arc::new(move |a: &Attrs| Ok(Box::new(RemapOp(create(name, a)?)) as Box<dyn Operator>));
    r.add(name, s.inputs, s.params, s.doc, move |a: &Attrs| fwd(a));
    r.add(back, &["ograd", "data"], s.params, "gradient of an index-map op", move |a: &Attrs| {
        Ok(Box::new(RemapBackward(back, create(back, a)?)))
    });
    r.set_gradient(name, s.grad);
    for &alias in s.aliases {
        r.alias(alias, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::Split;

    #[test]
    fn reversed_rows_match_the_element_map() {
        // Flipped axes of a 3-d shape (none, each one, the outer and last, all: trailing kept
        // axes merged into one row or not), a 1-d and a 0-d one, run whole and in runs of rows
        // over the team.
        let cases: [(&[usize], &[bool]); 8] = [
            (&[3, 4, 5], &[false, false, false]),
            (&[3, 4, 5], &[true, false, false]),
            (&[3, 4, 5], &[false, true, false]),
            (&[3, 4, 5], &[false, false, true]),
            (&[3, 4, 5], &[true, false, true]),
            (&[3, 4, 5], &[true, true, true]),
            (&[7], &[true]),
            (&[], &[]),
        ];
        for (shape, flip) in cases {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let map = map_coords(shape, shape, |oc, ic| {
                for (a, (i, &o)) in ic.iter_mut().zip(oc).enumerate() {
                    *i = if flip[a] { shape[a] - 1 - o } else { o };
                }
                true
            });
            let want: Vec<f32> = map.iter().map(|&i| v[i as usize]).collect();
            for split in [Split::One, Split::Team(2)] {
                assert_eq!(reverse_rows(&v, shape, flip, |_| split), want, "{shape:?} {flip:?} {split:?}");
            }
        }
    }
}
