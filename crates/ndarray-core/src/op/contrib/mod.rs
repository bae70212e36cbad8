//! MXNet's `contrib` ops (`mx.nd.contrib`, `mx.sym.contrib`), registered as `_contrib_NAME` as
//! MXNet registers them: resizing and adaptive pooling (`resize.rs`), bounding boxes
//! (`bbox.rs`), `ROIAlign` (`roi.rs`), the interleaved attention products (`attention.rs`),
//! small helpers (`misc.rs`), box encoding and the straight-through estimators (`extra.rs`),
//! the SSD / Faster R-CNN detection ops (`detection/`), INT8 quantization (`quant/`), deformable
//! convolution, PSROI pooling and Correlation (`deformable/`), FFTs (`fft.rs`), count sketch
//! (`sketch.rs`), the Hawkes log likelihood (`hawkes.rs`), the exposed gradient ops
//! (`backward.rs`), layers under contrib names (`wrapped.rs`) and the dense
//! `group_adagrad_update` (`group_adagrad.rs`).
//!
//! These ops compute in `f64` over the input values (MXNet computes them in the input's float
//! type); each is a [`Kernel`]: shapes, dtypes and a function of `f64` vectors, wrapped into an
//! [`Operator`] by [`F64Op`].

mod attention;
mod backward;
mod bbox;
mod deformable;
mod detection;
mod extra;
mod fft;
mod group_adagrad;
mod hawkes;
mod misc;
mod quant;
pub(super) mod register;
mod resize;
mod roi;
mod sketch;
#[cfg(test)]
mod tests;
mod wrapped;

use std::fmt;

use super::registry::Registry;
use super::{Attrs, OpCtx, Operator, TensorIn, same_dtype};
use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// One input of a [`Kernel`]: its values as `f64` and its shape.
pub(super) struct In<'a> {
    /// The values, row-major.
    pub v: Vec<f64>,
    /// The shape.
    pub s: &'a [usize],
}

/// A contrib op computed over `f64` values.
pub(super) trait Kernel: Send + Sync + fmt::Debug {
    /// The registered name.
    fn name(&self) -> &'static str;
    /// Number of outputs (hidden ones included).
    fn num_outputs(&self) -> usize {
        1
    }
    /// Outputs a caller sees.
    fn num_visible(&self) -> usize {
        self.num_outputs()
    }
    /// Input names when they depend on the attributes.
    fn input_names(&self) -> Option<Vec<String>> {
        None
    }
    /// Output names (`list_outputs` suffixes) when they are not the default ones.
    fn output_names(&self) -> Option<Vec<String>> {
        None
    }
    /// Output shapes from input shapes.
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>>;
    /// Fill the unknown input shapes that the known ones determine (a layer's weight and bias
    /// from its data), before the outputs are inferred once every input is known.
    fn fill_inputs(&self, _inputs: &mut [Option<Shape>]) -> Result<()> {
        Ok(())
    }
    /// Output dtypes: by default every input shares one float dtype, which every output has.
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        let d = same_dtype(self.name(), x)?;
        if !d.is_float() {
            return Err(Error::dtype(self.name(), d, format!("{} needs floating-point inputs, got {d}", self.name())));
        }
        Ok(vec![d; self.num_outputs()])
    }
    /// `Some(i)`: the outputs take input `i`'s dtype and the other inputs may have any dtype
    /// (for partial inference in graphs); `None`: every input and output shares one dtype.
    fn dtype_source(&self) -> Option<usize> {
        None
    }
    /// The outputs' values.
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>>;
}

/// The [`Operator`] of a [`Kernel`], with the number of inputs it was registered with.
#[derive(Debug)]
pub(super) struct F64Op<K>(pub K, pub usize);

/// The values of an input as `f64`.
fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|a| a.to_f64()).collect() })
}

/// `f64` values stored as `dt`.
pub(super) fn store(dt: DType, v: Vec<f64>) -> CpuStorage {
    dispatch!(dtype dt => T, { T::wrap(v.into_iter().map(T::from_f64).collect()) })
}

impl<K: Kernel> F64Op<K> {
    /// The number of inputs must be the registered one (or the instance's input names').
    fn check_count(&self, got: usize) -> Result<()> {
        let want = self.0.input_names().map_or(self.1, |names| names.len());
        super::expect_inputs(self.0.name(), got, want)
    }
}

impl<K: Kernel> Operator for F64Op<K> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn num_outputs(&self) -> usize {
        self.0.num_outputs()
    }
    fn num_visible_outputs(&self) -> usize {
        self.0.num_visible()
    }
    fn input_names(&self) -> Option<Vec<String>> {
        self.0.input_names()
    }
    fn output_names(&self) -> Vec<String> {
        match self.0.output_names() {
            Some(names) => names,
            None if self.0.num_outputs() == 1 => vec!["output".to_string()],
            None => (0..self.0.num_outputs()).map(|i| format!("output{i}")).collect(),
        }
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        self.check_count(inputs.len())?;
        self.0.shapes(inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        self.check_count(inputs.len())?;
        self.0.fill_inputs(inputs)?;
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
        let inferred = self.0.shapes(&known)?;
        super::assign_shapes(self.0.name(), outputs, &inferred)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        self.check_count(inputs.len())?;
        self.0.dtypes(inputs)
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        self.check_count(inputs.len())?;
        if let Some(known) = inputs.iter().cloned().collect::<Option<Vec<DType>>>() {
            let inferred = self.0.dtypes(&known)?;
            for (o, d) in outputs.iter_mut().zip(inferred) {
                *o = Some(d);
            }
            return Ok(());
        }
        match self.0.dtype_source() {
            Some(src) => {
                if let Some(d) = inputs[src] {
                    let inferred = self.0.dtypes(&vec![d; inputs.len()])?;
                    for (o, d) in outputs.iter_mut().zip(inferred) {
                        *o = Some(d);
                    }
                }
                Ok(())
            }
            None => {
                let first = inputs.iter().flatten().next().copied();
                if let Some(d) = first {
                    for x in inputs.iter_mut() {
                        x.get_or_insert(d);
                    }
                    let known: Vec<DType> = inputs.iter().flatten().copied().collect();
                    let inferred = self.0.dtypes(&known)?;
                    for (o, d) in outputs.iter_mut().zip(inferred) {
                        *o = Some(d);
                    }
                }
                Ok(())
            }
        }
    }
    fn forward(
        &self,
        _: &mut OpCtx<'_>,
        x: &[TensorIn<'_>],
        shapes: &[Shape],
        dt: &[DType],
    ) -> Result<Vec<CpuStorage>> {
        let ins: Vec<In<'_>> = x.iter().map(|t| In { v: values(t), s: t.shape }).collect();
        let outs = self.0.run(&ins, shapes)?;
        Ok(outs.into_iter().zip(dt).map(|(v, &d)| store(d, v)).collect())
    }
}

/// Register a kernel-backed op whose instances `make` parses from the attributes.
pub(super) fn add<K: Kernel + 'static>(
    r: &mut Registry,
    name: &'static str,
    inputs: &'static [&'static str],
    params: &'static [super::ParamSpec],
    doc: &'static str,
    make: fn(&Attrs) -> Result<K>,
) {
    let n = inputs.len();
    r.add(name, inputs, params, doc, move |a: &Attrs| Ok(Box::new(F64Op(make(a)?, n)) as Box<dyn Operator>));
}

/// A shape error of `op` naming the shapes involved.
pub(super) fn shape_err(op: &str, what: impl fmt::Display, shapes: &[(&str, &[usize])]) -> Error {
    let names: Vec<String> = shapes.iter().map(|(n, s)| format!("{n} {}", fmt_shape(s))).collect();
    Error::shape(op, format!("{what} (got {})", names.join(", ")))
}

/// The parameter names of `params`, for [`Attrs::check_known`].
pub(super) fn keys(params: &[super::ParamSpec]) -> Vec<&'static str> {
    params.iter().map(|p| p.name).collect()
}
