//! sort, argsort and topk along an axis (stable, as NumPy's and MXNet's CPU kernels).

use super::registry::Registry;
use super::{Attrs, OpCtx, Operator, TensorIn, expect_inputs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, norm_axis};
use crate::storage::{CpuStorage, StorageElement};
use crate::with_cpu;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ret {
    Value,
    Indices,
    Mask,
    Both,
}

#[derive(Debug)]
struct TopK {
    name: &'static str,
    axis: Option<i64>,
    k: Option<usize>,
    ret: Ret,
    ascend: bool,
    dtype: DType,
}

impl TopK {
    fn geometry(&self, s: &[usize]) -> Result<(Shape, usize, usize)> {
        // Returns (working shape, axis, k); axis None flattens.
        let (ws, ax) = match self.axis {
            None => (vec![s.iter().product()], 0),
            Some(a) => (s.to_vec(), norm_axis(self.name, a, s.len())?),
        };
        let n = ws[ax];
        let k = self.k.unwrap_or(n);
        if k > n {
            return Err(Error::param(self.name, format!("k ({k}) is larger than the axis length {n}")));
        }
        Ok((ws, ax, k))
    }
}

impl Operator for TopK {
    fn name(&self) -> &str {
        self.name
    }
    fn num_outputs(&self) -> usize {
        if self.ret == Ret::Both { 2 } else { 1 }
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        let (mut ws, ax, k) = self.geometry(&inputs[0])?;
        if self.ret == Ret::Mask {
            return Ok(vec![inputs[0].clone()]);
        }
        ws[ax] = k;
        Ok(vec![ws.clone(); self.num_outputs()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(match self.ret {
            Ret::Value | Ret::Mask => vec![inputs[0]],
            Ret::Indices => vec![self.dtype],
            Ret::Both => vec![inputs[0], self.dtype],
        })
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (ws, ax, k) = self.geometry(x[0].shape)?;
        let outer: usize = ws[..ax].iter().product();
        let inner: usize = ws[ax + 1..].iter().product();
        let n = ws[ax];
        let src = x[0].storage();
        with_cpu!(&*src, v, T, {
            let mut vals: Vec<T> = Vec::with_capacity(outer * k * inner);
            let mut idxs: Vec<f64> = Vec::with_capacity(outer * k * inner);
            let mut mask: Vec<T> = if self.ret == Ret::Mask { vec![T::zero(); v.len()] } else { Vec::new() };
            let mut vals_t = vec![T::zero(); outer * k * inner];
            let mut idx_t = vec![0f64; outer * k * inner];
            for p in 0..outer {
                for q in 0..inner {
                    let at = |i: usize| (p * n + i) * inner + q;
                    let mut order: Vec<usize> = (0..n).collect();
                    let key = |i: &usize| v[at(*i)].to_f64();
                    if self.ascend {
                        order.sort_by(|a, b| key(a).total_cmp(&key(b)));
                    } else {
                        order.sort_by(|a, b| key(b).total_cmp(&key(a)));
                    }
                    for (j, &i) in order.iter().take(k).enumerate() {
                        let o = (p * k + j) * inner + q;
                        vals_t[o] = v[at(i)];
                        idx_t[o] = i as f64;
                        if self.ret == Ret::Mask {
                            mask[at(i)] = T::one();
                        }
                    }
                }
            }
            vals.extend(vals_t);
            idxs.extend(idx_t);
            let idx_storage = |d: DType| CpuStorage::F64(idxs.clone()).cast(0, idxs.len(), d);
            Ok(match self.ret {
                Ret::Value => vec![T::wrap(vals)],
                Ret::Indices => vec![idx_storage(dt[0])],
                Ret::Mask => vec![T::wrap(mask)],
                Ret::Both => vec![T::wrap(vals), idx_storage(dt[1])],
            })
        })
    }
}

fn create(name: &'static str, a: &Attrs, ret_default: Ret) -> Result<Box<dyn Operator>> {
    a.check_known(name, &["axis", "k", "ret_typ", "is_ascend", "dtype"])?;
    let ret = match (name, a.str_or("ret_typ", "")) {
        ("topk", "value") => Ret::Value,
        ("topk", "indices") | ("topk", "") => Ret::Indices,
        ("topk", "mask") => Ret::Mask,
        ("topk", "both") => Ret::Both,
        ("topk", other) => return Err(Error::param(name, format!("unknown ret_typ '{other}'"))),
        _ => ret_default,
    };
    let axis = if a.0.get("axis").map(|s| s.trim()) == Some("None") { None } else { Some(a.int_or(name, "axis", -1)?) };
    let k = if name == "topk" {
        let k = a.int_or(name, "k", 1)?;
        if k < 1 { None } else { Some(k as usize) }
    } else {
        None
    };
    let ascend = a.bool_or(name, "is_ascend", name != "topk")?;
    let dtype = a.opt_dtype(name, "dtype")?.unwrap_or(DType::F32);
    Ok(Box::new(TopK { name, axis, k, ret, ascend, dtype }))
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "topk",
        &["data"],
        params!(
            "axis" = Some("-1"),
            "k" = Some("1"),
            "ret_typ" = Some("'indices'"),
            "is_ascend" = Some("False"),
            "dtype" = Some("'float32'")
        ),
        "the k largest (or smallest) elements",
        |a: &Attrs| create("topk", a, Ret::Indices),
    );
    r.add("sort", &["data"], params!("axis" = Some("-1"), "is_ascend" = Some("True")), "sorted values", |a: &Attrs| {
        create("sort", a, Ret::Value)
    });
    r.add(
        "argsort",
        &["data"],
        params!("axis" = Some("-1"), "is_ascend" = Some("True"), "dtype" = Some("'float32'")),
        "indices that sort",
        |a: &Attrs| create("argsort", a, Ret::Indices),
    );
}
