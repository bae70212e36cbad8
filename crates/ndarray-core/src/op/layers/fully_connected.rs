//! FullyConnected (`out = x · Wᵀ + b` through gemm) and Embedding (row lookup), with their
//! backward kernels.

use super::{expect_shape, fill_dtype, fill_shape, float_dtype};
use crate::backend::cpu::elemwise::BinaryKind;
use crate::backend::cpu::matmul::{MatRef, matmul_into};
use crate::backend::device::{self, DeviceStorage, ReduceOp};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::DevIn;
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, Kept, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_dtype};
use crate::shape::{Shape, fmt_shape, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};
#[allow(unused_imports)]
use num_traits::Float as _;

const FC: &str = "FullyConnected";
const FC_PARAMS: &[&str] = &["num_hidden", "no_bias", "flatten"];

#[derive(Debug, Clone)]
struct FullyConnected {
    num_hidden: usize,
    no_bias: bool,
    flatten: bool,
}

impl FullyConnected {
    fn parse(name: &str, a: &Attrs) -> Result<FullyConnected> {
        a.check_known(name, FC_PARAMS)?;
        let h = a.int(name, "num_hidden")?;
        if h < 1 {
            return Err(Error::param(name, format!("num_hidden must be positive, got {h}")));
        }
        Ok(FullyConnected {
            num_hidden: h as usize,
            no_bias: a.bool_or(name, "no_bias", false)?,
            flatten: a.bool_or(name, "flatten", true)?,
        })
    }

    /// (rows, in_features) of the data viewed as a matrix.
    fn dims(&self, data: &[usize]) -> Result<(usize, usize)> {
        if data.is_empty() {
            return Err(Error::shape(FC, "data must have at least one dimension"));
        }
        Ok(if self.flatten {
            (data[0], size_of(&data[1..]))
        } else {
            (size_of(&data[..data.len() - 1]), data[data.len() - 1])
        })
    }

    fn out_shape(&self, data: &[usize]) -> Shape {
        let mut s: Shape = if self.flatten { vec![data[0]] } else { data[..data.len() - 1].to_vec() };
        s.push(self.num_hidden);
        s
    }

    fn n_in(&self) -> usize {
        if self.no_bias { 2 } else { 3 }
    }
}

impl Operator for FullyConnected {
    fn name(&self) -> &str {
        FC
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = if self.no_bias { &["data", "weight"] } else { &["data", "weight", "bias"] };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(FC, inputs.len(), self.n_in())?;
        let (_, k) = self.dims(&inputs[0])?;
        expect_shape(FC, "weight", &inputs[1], &[self.num_hidden, k])?;
        if !self.no_bias {
            expect_shape(FC, "bias", &inputs[2], &[self.num_hidden])?;
        }
        Ok(vec![self.out_shape(&inputs[0])])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(FC, inputs.len(), self.n_in())?;
        if !self.no_bias {
            fill_shape(FC, "bias", &mut inputs[2], &[self.num_hidden])?;
        }
        let Some(data) = inputs[0].clone() else { return Ok(()) };
        let (_, k) = self.dims(&data)?;
        fill_shape(FC, "weight", &mut inputs[1], &[self.num_hidden, k])?;
        fill_shape(FC, "output", &mut outputs[0], &self.out_shape(&data))
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![float_dtype(FC, same_dtype(FC, inputs)?)?])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (m, k) = self.dims(x[0].shape)?;
        let h = self.num_hidden;
        let mut out = crate::pool::alloc_storage(dt[0], m * h);
        // data (m x k) times weight (h x k) transposed.
        let l = MatRef::row_major(x[0].offset, k, false);
        let r = MatRef::row_major(x[1].offset, k, true);
        matmul_into(ctx.par, &mut out, 0, x[0].data, l, x[1].data, r, m, h, k);
        if !self.no_bias {
            dispatch!(float FC, dt[0] => T, {
                let o = T::slice_mut(&mut out).expect("dtype");
                let b = x[2].typed::<T>();
                for row in o.chunks_exact_mut(h) {
                    for (v, &bb) in row.iter_mut().zip(b) {
                        *v += bb;
                    }
                }
            });
        }
        Ok(vec![out])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let (m, k) = self.dims(x[0].shape)?;
        let h = self.num_hidden;
        // data (m x k) times weight (h x k) transposed, then the bias broadcast over rows.
        let Some(y) = device::matmul(x[0], x[1], 1, m, h, k, false, true, false)? else { return Ok(None) };
        if self.no_bias {
            return Ok(Some(vec![y]));
        }
        let shape = [m, h];
        let yin = DevIn { data: &y, offset: 0, shape: &shape };
        Ok(device::binary(BinaryKind::Add, yin, x[2], &shape)?.map(|o| vec![o]))
    }
}

/// `_backward_FullyConnected(out_grad, data, weight)` → data, weight (and bias) gradients, or
/// the subset flagged in `keep` (see [`Operator::keep_outputs`]).
///
/// Kept fused: its two products and bias sum composed of `dot` and `sum` ran as fast (1.076 ms
/// fused vs 1.077 ms composed on 128x784 -> 256, examples/fused_backward.rs), but on the layer's
/// N-D data the composition also needs `Flatten` and `reshape_like` copies of the data and its
/// gradient, which that figure leaves out and this op avoids.
#[derive(Debug)]
struct FullyConnectedBackward {
    fc: FullyConnected,
    /// Which of (data, weight, bias) gradients to compute.
    keep: Kept,
}

impl FullyConnectedBackward {
    fn new(fc: FullyConnected) -> FullyConnectedBackward {
        let bias = !fc.no_bias;
        FullyConnectedBackward { fc, keep: Kept::all(bias) }
    }
}

impl Operator for FullyConnectedBackward {
    fn name(&self) -> &str {
        "_backward_FullyConnected"
    }
    fn num_outputs(&self) -> usize {
        self.keep.count()
    }
    fn keep_outputs(&self, keep: &[bool]) -> Option<Box<dyn Operator>> {
        let keep = self.keep.narrow(keep)?;
        Some(Box::new(FullyConnectedBackward { fc: self.fc.clone(), keep }))
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 3)?;
        let (m, k) = self.fc.dims(&inputs[1])?;
        let h = self.fc.num_hidden;
        expect_shape(self.name(), "weight", &inputs[2], &[h, k])?;
        if size_of(&inputs[0]) != m * h {
            return Err(Error::shape(
                self.name(),
                format!("output gradient {} does not match data {}", fmt_shape(&inputs[0]), fmt_shape(&inputs[1])),
            ));
        }
        let all = [inputs[1].clone(), inputs[2].clone(), vec![h]];
        Ok(self.keep.select(all))
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (m, k) = self.fc.dims(x[1].shape)?;
        let h = self.fc.num_hidden;
        let (g, data, w) = (&x[0], &x[1], &x[2]);
        let mut out = Vec::with_capacity(3);
        if self.keep.0[0] {
            // d data (m x k) = g (m x h) · W (h x k)
            let mut dx = crate::pool::alloc_storage(dt[0], m * k);
            let gl = MatRef::row_major(g.offset, h, false);
            matmul_into(ctx.par, &mut dx, 0, g.data, gl, w.data, MatRef::row_major(w.offset, k, false), m, k, h);
            out.push(dx);
        }
        if self.keep.0[1] {
            // d W (h x k) = gᵀ (h x m) · data (m x k)
            let mut dw = crate::pool::alloc_storage(dt[0], h * k);
            let gt = MatRef::row_major(g.offset, h, true);
            matmul_into(ctx.par, &mut dw, 0, g.data, gt, data.data, MatRef::row_major(data.offset, k, false), h, k, m);
            out.push(dw);
        }
        if self.keep.0[2] {
            out.push(dispatch!(float self.name(), dt[0] => T, {
                let mut acc = vec![0f64; h];
                for row in g.typed::<T>().chunks_exact(h) {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += v.to_f64();
                    }
                }
                T::wrap(acc.into_iter().map(<T as Element>::from_f64).collect())
            }));
        }
        Ok(out)
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let (m, k) = self.fc.dims(x[1].shape)?;
        let h = self.fc.num_hidden;
        let gshape = [m, h];
        let g = DevIn { data: x[0].data, offset: x[0].offset, shape: &gshape };
        let (data, w) = (x[1], x[2]);
        let mut out = Vec::with_capacity(3);
        if self.keep.0[0] {
            // d data (m x k) = g (m x h) · W (h x k)
            let Some(dx) = device::matmul(g, w, 1, m, k, h, false, false, false)? else { return Ok(None) };
            out.push(dx);
        }
        if self.keep.0[1] {
            // d W (h x k) = gᵀ (h x m) · data (m x k)
            let Some(dw) = device::matmul(g, data, 1, h, k, m, true, false, false)? else { return Ok(None) };
            out.push(dw);
        }
        if self.keep.0[2] {
            let Some(db) = device::reduce(ReduceOp::Sum, g, &[true, false], 1.0)? else { return Ok(None) };
            out.push(db);
        }
        Ok(Some(out))
    }
}

fn grad_fc(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let r = b.op("_backward_FullyConnected", &[g[0], x[0], x[1]], attrs.clone())?;
    Ok(r.into_iter().map(Some).collect())
}

const EMB: &str = "Embedding";
const EMB_PARAMS: &[&str] = &["input_dim", "output_dim", "dtype", "sparse_grad"];

#[derive(Debug, Clone)]
struct Embedding {
    input_dim: usize,
    output_dim: usize,
    dtype: DType,
}

impl Embedding {
    fn parse(name: &str, a: &Attrs) -> Result<Embedding> {
        a.check_known(name, EMB_PARAMS)?;
        let dim = |key: &str| -> Result<usize> {
            let v = a.int(name, key)?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| Error::param(name, format!("{key} must be positive, got {v}")))
        };
        a.bool_or(name, "sparse_grad", false)?;
        Ok(Embedding {
            input_dim: dim("input_dim")?,
            output_dim: dim("output_dim")?,
            dtype: a.opt_dtype(name, "dtype")?.unwrap_or(DType::F32),
        })
    }

    /// Row index of an input value: truncated, then clipped into the table, as MXNet does.
    fn index(&self, v: f64) -> usize {
        let i = v.trunc();
        if i.is_nan() || i < 0.0 { 0 } else { (i as usize).min(self.input_dim - 1) }
    }

    fn indices(&self, data: &TensorIn<'_>) -> Vec<usize> {
        dispatch!(storage data.data => v: T, {
            v[data.offset..data.offset + data.len()].iter().map(|x| self.index(x.to_f64())).collect()
        })
    }
}

impl Operator for Embedding {
    fn name(&self) -> &str {
        EMB
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(EMB, inputs.len(), 2)?;
        expect_shape(EMB, "weight", &inputs[1], &[self.input_dim, self.output_dim])?;
        let mut s = inputs[0].clone();
        s.push(self.output_dim);
        Ok(vec![s])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(EMB, inputs.len(), 2)?;
        fill_shape(EMB, "weight", &mut inputs[1], &[self.input_dim, self.output_dim])?;
        if let Some(d) = inputs[0].clone() {
            let mut s = d;
            s.push(self.output_dim);
            fill_shape(EMB, "output", &mut outputs[0], &s)?;
        }
        Ok(())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs(EMB, inputs.len(), 2)?;
        if inputs[1] != self.dtype {
            return Err(Error::dtype(
                EMB,
                inputs[1],
                format!("weight has dtype {} but the parameter dtype is {}", inputs[1], self.dtype),
            ));
        }
        Ok(vec![self.dtype])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        if inputs[0].is_none() {
            inputs[0] = Some(DType::F32);
        }
        fill_dtype(EMB, "weight", &mut inputs[1], self.dtype)?;
        fill_dtype(EMB, "output", &mut outputs[0], self.dtype)
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        // Rows of the weight at the truncated indices, clipped into the table: `take` on
        // axis 0 with clipping (NaN and negatives give row 0, as `Embedding::index`).
        Ok(device::take(x[1], x[0], 0, false)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let idx = self.indices(&x[0]);
        let d = self.output_dim;
        let w = &x[1];
        Ok(vec![dispatch!(storage w.data => wv: T, {
            let table = &wv[w.offset..w.offset + w.len()];
            let mut out = Vec::with_capacity(idx.len() * d);
            for &i in &idx {
                out.extend_from_slice(&table[i * d..(i + 1) * d]);
            }
            T::wrap(out)
        })])
    }
}

/// `_backward_Embedding(out_grad, data)` → the weight gradient (rows scatter-added).
#[derive(Debug)]
struct EmbeddingBackward(Embedding);

impl Operator for EmbeddingBackward {
    fn name(&self) -> &str {
        "_backward_Embedding"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        let mut want = inputs[1].clone();
        want.push(self.0.output_dim);
        expect_shape(self.name(), "output gradient", &inputs[0], &want)?;
        Ok(vec![vec![self.0.input_dim, self.0.output_dim]])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![float_dtype(self.name(), inputs[0])?])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        // The rows of the output gradient added into the table at their (clipped) indices.
        let table = [self.0.input_dim, self.0.output_dim];
        Ok(device::take_backward(x[0], x[1], &table, 0, false)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let idx = self.0.indices(&x[1]);
        let d = self.0.output_dim;
        Ok(vec![dispatch!(float self.name(), dt[0] => T, {
            let g = x[0].typed::<T>();
            let mut out = vec![<T as Element>::zero(); self.0.input_dim * d];
            for (n, &i) in idx.iter().enumerate() {
                for (o, &v) in out[i * d..(i + 1) * d].iter_mut().zip(&g[n * d..(n + 1) * d]) {
                    *o += v;
                }
            }
            T::wrap(out)
        })])
    }
}

fn grad_embedding(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let dw = b.apply("_backward_Embedding", &[g[0], x[0]], attrs.clone())?;
    Ok(vec![None, Some(dw)])
}

pub(in crate::op) fn register(r: &mut Registry) {
    let fc_params = params!("num_hidden" = None, "no_bias" = Some("False"), "flatten" = Some("True"));
    r.add(
        FC,
        &["data", "weight", "bias"],
        fc_params,
        "fully connected layer: data · weightᵀ + bias",
        |a: &Attrs| Ok(Box::new(FullyConnected::parse(FC, a)?)),
    );
    r.add(
        "_backward_FullyConnected",
        &["ograd", "data", "weight"],
        fc_params,
        "gradients of FullyConnected",
        |a: &Attrs| Ok(Box::new(FullyConnectedBackward::new(FullyConnected::parse("_backward_FullyConnected", a)?))),
    );
    r.set_gradient(FC, grad_fc);
    let emb_params =
        params!("input_dim" = None, "output_dim" = None, "dtype" = Some("'float32'"), "sparse_grad" = Some("False"));
    r.add(EMB, &["data", "weight"], emb_params, "map integer indices to rows of a weight table", |a: &Attrs| {
        Ok(Box::new(Embedding::parse(EMB, a)?))
    });
    r.add("_backward_Embedding", &["ograd", "data"], emb_params, "weight gradient of Embedding", |a: &Attrs| {
        Ok(Box::new(EmbeddingBackward(Embedding::parse("_backward_Embedding", a)?)))
    });
    r.set_gradient(EMB, grad_embedding);
}
