//! sort, argsort and topk along an axis (stable, as NumPy's and MXNet's CPU kernels).

use super::grad::{Grads, pick_attrs};
use super::registry::Registry;
use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{Shape, norm_axis};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

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
        dispatch!(storage &*src => v: T, {
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
            let idx_storage = |d: DType| CpuStorage::F64(idxs.clone().into()).cast(0, idxs.len(), d);
            Ok(match self.ret {
                Ret::Value => vec![T::wrap(vals)],
                Ret::Indices => vec![idx_storage(dt[0])],
                Ret::Mask => vec![T::wrap(mask)],
                Ret::Both => vec![T::wrap(vals), idx_storage(dt[1])],
            })
        })
    }
}

/// `_backward_topk(ograd, data)`: the gradient of topk's (or sort's) values, put back at the
/// positions the values came from (the order is recomputed from `data`).
#[derive(Debug)]
struct TopKBackward {
    fwd: TopK,
}

impl Operator for TopKBackward {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        super::grad::shapes_of_inputs(self, &[1], inputs, outputs)
    }
    fn name(&self) -> &str {
        "_backward_topk"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        let (mut ws, ax, k) = self.fwd.geometry(&inputs[1])?;
        ws[ax] = k;
        if ws.iter().product::<usize>() != inputs[0].iter().product::<usize>() {
            return Err(Error::shape(self.name(), "ograd does not match the selected values' shape"));
        }
        Ok(vec![inputs[1].clone()])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let (ws, ax, k) = self.fwd.geometry(x[1].shape)?;
        let outer: usize = ws[..ax].iter().product();
        let inner: usize = ws[ax + 1..].iter().product();
        let n = ws[ax];
        let (g, d) = (x[0].storage(), x[1].storage());
        Ok(vec![dispatch!(storage &*d => v: T, {
            let gv = T::slice(&g).expect("same dtype");
            let mut o = vec![T::zero(); v.len()];
            let mut order: Vec<usize> = Vec::with_capacity(n);
            for p in 0..outer {
                for q in 0..inner {
                    let at = |i: usize| (p * n + i) * inner + q;
                    order.clear();
                    order.extend(0..n);
                    let key = |i: &usize| v[at(*i)].to_f64();
                    if self.fwd.ascend {
                        order.sort_by(|a, b| key(a).total_cmp(&key(b)));
                    } else {
                        order.sort_by(|a, b| key(b).total_cmp(&key(a)));
                    }
                    for (j, &i) in order.iter().take(k).enumerate() {
                        o[at(i)] = gv[(p * k + j) * inner + q];
                    }
                }
            }
            T::wrap(o)
        })])
    }
}

/// topk: values (ret_typ value or both) get their gradient back; indices and masks get zeros.
/// Fused `_backward_topk`, not timed: putting the values back is a scatter to positions only
/// the data holds, which no forward op does.
fn grad_topk(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    if !matches!(a.str_or("ret_typ", "indices"), "value" | "both") {
        return b.zeros_like_each(x);
    }
    let at = pick_attrs(a, &["axis", "k", "is_ascend"]);
    Ok(vec![Some(b.apply("_backward_topk", &[g[0], x[0]], at)?)])
}

/// sort: the gradient goes back through the sorting permutation.
fn grad_sort(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let mut at = pick_attrs(a, &["axis"]);
    at.set("is_ascend", a.bool_or("sort", "is_ascend", true)?.to_string());
    at.set("k", "0");
    Ok(vec![Some(b.apply("_backward_topk", &[g[0], x[0]], at)?)])
}

fn create(name: &'static str, a: &Attrs, ret_default: Ret) -> Result<Box<dyn Operator>> {
    Ok(Box::new(parse(name, a, ret_default)?))
}

fn parse(name: &'static str, a: &Attrs, ret_default: Ret) -> Result<TopK> {
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
    Ok(TopK { name, axis, k, ret, ascend, dtype })
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
    r.add(
        "_backward_topk",
        &["ograd", "data"],
        params!("axis" = Some("-1"), "k" = Some("1"), "is_ascend" = Some("False")),
        "gradient of topk's and sort's values",
        |a: &Attrs| {
            a.check_known("_backward_topk", &["axis", "k", "is_ascend"])?;
            Ok(Box::new(TopKBackward { fwd: parse("topk", a, Ret::Value)? }))
        },
    );
    r.set_gradient("topk", grad_topk);
    r.set_gradient("sort", grad_sort);
}

#[cfg(test)]
mod grad_tests {
    use crate::eager_grad::testing::{arr, check};

    #[test]
    fn topk_and_sort_gradients() {
        let x = || arr(&[3, 4], 1);
        check("topk", &[("k", "2"), ("ret_typ", "value")], &[x()], &[0]);
        check("topk", &[("k", "2"), ("ret_typ", "both"), ("axis", "0"), ("is_ascend", "True")], &[x()], &[0]);
        check("topk", &[("k", "3"), ("ret_typ", "value"), ("axis", "None")], &[x()], &[0]);
        check("topk", &[("k", "2")], &[x()], &[0]);
        check("sort", &[], &[x()], &[0]);
        check("sort", &[("axis", "0"), ("is_ascend", "False")], &[x()], &[0]);
    }
}
