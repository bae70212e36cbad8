//! Creation ops with no inputs: `_zeros`, `_ones`, `_full`, `_empty`, `_arange`, `_linspace`.

use super::registry::Registry;
use super::{Attrs, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::device::{self, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::DevIn;
use crate::shape::{Shape, size_of};
use crate::storage::CpuStorage;
use crate::{dispatch, params};

#[derive(Debug)]
struct Fill {
    name: &'static str,
    shape: Shape,
    dtype: DType,
    value: f64,
}

impl Operator for Fill {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 0)?;
        Ok(vec![self.shape.clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(self.name, inputs.len(), 0)?;
        super::assign_declared_shape(self.name, outputs, &self.shape)
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.dtype])
    }
    fn forward(&self, _: &mut OpCtx<'_>, _: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![CpuStorage::try_full(self.name, self.dtype, size_of(&out[0]), self.value)?])
    }
    fn forward_device(
        &self,
        ctx: &mut OpCtx<'_>,
        _: &[DevIn<'_>],
        out: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::fill(ctx.ctx.dev_id, self.dtype, size_of(&out[0]), self.value)?.map(|o| vec![o]))
    }
}

/// `_arange` and `_linspace`: `start + i * step` for i in 0..n, each value repeated `repeat`
/// times.
#[derive(Debug)]
struct Range {
    name: &'static str,
    start: f64,
    step: f64,
    n: usize,
    repeat: usize,
    dtype: DType,
}

impl Operator for Range {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 0)?;
        Ok(vec![vec![self.len()?]])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.dtype])
    }
    fn forward(&self, _: &mut OpCtx<'_>, _: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let len = self.len()?;
        Ok(vec![dispatch!(dtype self.dtype => T, {
            let mut v: Vec<T> = Vec::new();
            v.try_reserve_exact(len).map_err(|_| {
                Error::out_of_memory(self.name, len as u128 * self.dtype.size() as u128, format!("{len} {} values", self.dtype))
            })?;
            for i in 0..self.n {
                let x = <T as crate::dtype::Element>::from_f64(self.start + i as f64 * self.step);
                for _ in 0..self.repeat {
                    v.push(x);
                }
            }
            <T as crate::storage::StorageElement>::wrap(v)
        })])
    }
}

impl Range {
    /// Number of values: a shape error when `n * repeat` overflows.
    fn len(&self) -> Result<usize> {
        self.n.checked_mul(self.repeat).ok_or_else(|| {
            Error::shape(
                self.name,
                format!("{} values repeated {} times are more than can be addressed", self.n, self.repeat),
            )
        })
    }
}

fn dtype_of(a: &Attrs, op: &str) -> Result<DType> {
    Ok(a.opt_dtype(op, "dtype")?.unwrap_or(DType::F32))
}

pub(super) fn register(r: &mut Registry) {
    for (name, value) in [("_zeros", Some(0.0)), ("_ones", Some(1.0)), ("_full", None), ("_empty", Some(0.0))] {
        let p: &'static [super::ParamSpec] = if value.is_none() {
            params!("shape" = Some("()"), "dtype" = Some("'float32'"), "value" = None)
        } else {
            params!("shape" = Some("()"), "dtype" = Some("'float32'"))
        };
        r.add(name, &[], p, "an array filled with one value", move |a: &Attrs| {
            a.check_known(name, &["shape", "dtype", "value", "ctx"])?;
            let value = match value {
                Some(v) => v,
                None => a.float(name, "value")?,
            };
            Ok(Box::new(Fill { name, shape: a.shape(name, "shape")?, dtype: dtype_of(a, name)?, value }))
        });
    }
    r.add(
        "_arange",
        &[],
        params!(
            "start" = None,
            "stop" = Some("None"),
            "step" = Some("1.0"),
            "repeat" = Some("1"),
            "dtype" = Some("'float32'")
        ),
        "evenly spaced values in [start, stop)",
        |a: &Attrs| {
            a.check_known("_arange", &["start", "stop", "step", "repeat", "dtype", "ctx", "infer_range"])?;
            let (mut start, stop) = (a.float_or("_arange", "start", 0.0)?, a.opt_float("_arange", "stop")?);
            let stop = match stop {
                Some(s) => s,
                None => std::mem::replace(&mut start, 0.0),
            };
            let step = a.float_or("_arange", "step", 1.0)?;
            if step == 0.0 {
                return Err(Error::param("_arange", "step cannot be zero"));
            }
            let n = ((stop - start) / step).ceil();
            if n.is_nan() || n <= 0.0 {
                // MXNet rejects empty ranges.
                return Err(Error::param("_arange", format!("invalid range: start={start}, stop={stop}, step={step}")));
            }
            let n = n as usize;
            let repeat = a.int_or("_arange", "repeat", 1)?.max(1) as usize;
            Ok(Box::new(Range { name: "_arange", start, step, n, repeat, dtype: dtype_of(a, "_arange")? }))
        },
    );
    r.add(
        "_linspace",
        &[],
        params!("start" = None, "stop" = None, "num" = None, "endpoint" = Some("True"), "dtype" = Some("'float32'")),
        "num evenly spaced values from start to stop",
        |a: &Attrs| {
            a.check_known(
                "_linspace",
                &["start", "stop", "num", "endpoint", "dtype", "ctx", "step", "repeat", "infer_range"],
            )?;
            let start = a.float("_linspace", "start")?;
            let stop = a.float("_linspace", "stop")?;
            let num = a.int("_linspace", "num")?;
            if num < 0 {
                return Err(Error::param("_linspace", "num must be non-negative"));
            }
            let endpoint = a.bool_or("_linspace", "endpoint", true)?;
            let div = if endpoint { num - 1 } else { num };
            let step = if div > 0 { (stop - start) / div as f64 } else { 0.0 };
            Ok(Box::new(Range {
                name: "_linspace",
                start,
                step,
                n: num as usize,
                repeat: 1,
                dtype: dtype_of(a, "_linspace")?,
            }))
        },
    );
}
