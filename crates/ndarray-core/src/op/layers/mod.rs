//! Neural-network layers and losses: FullyConnected, Embedding, Activation, LeakyReLU,
//! SoftmaxActivation, SoftmaxOutput and the regression outputs, MakeLoss, BlockGrad, Dropout,
//! BatchNorm, LayerNorm, InstanceNorm, GroupNorm and the fused RNN, each with its registered
//! gradient (through a fused `_backward_X` kernel where `examples/fused_backward.rs` shows one
//! pays, or where no composition exists).
//!
//! Kernels are generic over the float dtypes ([`Real`]); float32 and float64 are the ones that
//! matter (float64 for finite-difference tests). Loss ops ignore the incoming output gradient
//! as MXNet does (their gradient is that of the loss they stand for).

pub(super) mod activation;
pub(super) mod batch_norm;
pub(super) mod ctc;
pub(super) mod dropout;
pub(super) mod fully_connected;
pub(super) mod loss;
pub(super) mod lrn;
pub(super) mod norm;
pub(super) mod rnn;
mod rnn_bptt;
mod rnn_cell;

#[cfg(test)]
mod tests;

use rayon::prelude::*;

use crate::backend::cpu::{PAR_CHUNK, Parallelism};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::fmt_shape;
use crate::storage::StorageElement;

/// A floating-point element type the layer kernels compute in.
pub(crate) trait Real: num_traits::Float + StorageElement + Send + Sync {}
impl<T: num_traits::Float + StorageElement + Send + Sync> Real for T {}

/// A constant in `T`.
#[inline(always)]
fn c<T: Real>(v: f64) -> T {
    <T as Element>::from_f64(v)
}

/// Check that `dt` is a float dtype.
fn float_dtype(op: &str, dt: DType) -> Result<DType> {
    if dt.is_float() {
        Ok(dt)
    } else {
        Err(Error::dtype(op, dt, format!("{op} needs a floating-point input, got {dt}")))
    }
}

/// `f` applied elementwise, split over rayon's pool for large inputs.
fn map1<T: Real>(par: Parallelism, x: &[T], f: impl Fn(T) -> T + Sync) -> Vec<T> {
    let mut out: Vec<T> = crate::pool::alloc(x.len());
    let body = |(o, a): (&mut [T], &[T])| {
        for (o, &a) in o.iter_mut().zip(a) {
            *o = f(a);
        }
    };
    if par.split(x.len()) {
        out.par_chunks_mut(PAR_CHUNK).zip(x.par_chunks(PAR_CHUNK)).for_each(body);
    } else {
        body((&mut out, x));
    }
    out
}

/// A chunk of output and the matching chunks of three inputs.
type Chunk3<'a, T> = (&'a mut [T], (&'a [T], (&'a [T], &'a [T])));

/// `f(a, b, c)` elementwise over three equal-length slices, split like [`map1`].
fn map3<T: Real>(par: Parallelism, a: &[T], b: &[T], cc: &[T], f: impl Fn(T, T, T) -> T + Sync) -> Vec<T> {
    let mut out: Vec<T> = crate::pool::alloc(a.len());
    let body = |(o, (a, (b, cc))): Chunk3<'_, T>| {
        for (o, ((&a, &b), &cc)) in o.iter_mut().zip(a.iter().zip(b).zip(cc)) {
            *o = f(a, b, cc);
        }
    };
    if par.split(a.len()) {
        out.par_chunks_mut(PAR_CHUNK)
            .zip(a.par_chunks(PAR_CHUNK).zip(b.par_chunks(PAR_CHUNK).zip(cc.par_chunks(PAR_CHUNK))))
            .for_each(body);
    } else {
        body((&mut out, (a, (b, cc))));
    }
    out
}

/// Store a deduced shape in `slot`, or check it against the one already there.
fn fill_shape(op: &str, what: &str, slot: &mut Option<Vec<usize>>, want: &[usize]) -> Result<()> {
    match slot {
        Some(s) if s.as_slice() != want => {
            Err(Error::shape(op, format!("{what} has shape {} but {} is expected", fmt_shape(s), fmt_shape(want))))
        }
        _ => {
            *slot = Some(want.to_vec());
            Ok(())
        }
    }
}

/// Store a deduced dtype in `slot`, or check it against the one already there.
fn fill_dtype(op: &str, what: &str, slot: &mut Option<DType>, want: DType) -> Result<()> {
    match slot {
        Some(d) if *d != want => Err(Error::dtype(op, *d, format!("{what} has dtype {d} but {want} is expected"))),
        _ => {
            *slot = Some(want);
            Ok(())
        }
    }
}

/// Check a fully known input shape against the expected one.
fn expect_shape(op: &str, what: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got != want {
        return Err(Error::shape(
            op,
            format!("{what} has shape {} but {} is expected", fmt_shape(got), fmt_shape(want)),
        ));
    }
    Ok(())
}
