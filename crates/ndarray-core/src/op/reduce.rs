//! Reductions: sum, mean, prod, nansum, max, min, norm, argmax, argmin.

use super::registry::Registry;
use super::{Attrs, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::cpu::reduce::{ReduceKind, reduce_storage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, norm_axis};
use crate::storage::CpuStorage;

#[derive(Debug)]
struct Reduce {
    name: &'static str,
    kind: ReduceKind,
    axis: Option<Vec<i64>>,
    keepdims: bool,
    exclude: bool,
}

impl Reduce {
    /// Which axes are reduced, for an input of `ndim` dimensions.
    fn flags(&self, ndim: usize) -> Result<Vec<bool>> {
        let mut f = vec![self.exclude; ndim];
        match &self.axis {
            None => return Ok(vec![true; ndim]),
            // MXNet: an empty axis tuple reduces everything (or nothing with exclude).
            Some(ax) if ax.is_empty() => return Ok(vec![!self.exclude; ndim]),
            Some(ax) => {
                for &a in ax {
                    let a = norm_axis(self.name, a, ndim)?;
                    f[a] = !self.exclude;
                }
            }
        }
        Ok(f)
    }
}

impl Operator for Reduce {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        let s = &inputs[0];
        let flags = self.flags(s.len())?;
        let out: Shape = if self.keepdims {
            s.iter().zip(&flags).map(|(&d, &r)| if r { 1 } else { d }).collect()
        } else {
            s.iter().zip(&flags).filter(|(_, r)| !**r).map(|(&d, _)| d).collect()
        };
        // MXNet 1.x (legacy shapes) never returns a 0-d array: a full reduction gives (1,).
        Ok(vec![if out.is_empty() { vec![1] } else { out }])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let flags = self.flags(x[0].shape.len())?;
        if matches!(self.kind, ReduceKind::Argmax | ReduceKind::Argmin)
            && x[0].shape.iter().zip(&flags).any(|(&d, &r)| r && d == 0)
        {
            return Err(Error::shape(self.name, "cannot take the arg-reduction of an empty axis"));
        }
        Ok(vec![reduce_storage(self.kind, &x[0].storage(), x[0].shape, &flags)])
    }
}

fn create(name: &'static str, kind: ReduceKind, a: &Attrs) -> Result<Box<dyn Operator>> {
    a.check_known(name, &["axis", "keepdims", "exclude", "ord"])?;
    let mut kind = kind;
    if kind == ReduceKind::Norm {
        match a.int_or(name, "ord", 2)? {
            2 => {}
            1 => kind = ReduceKind::NormL1,
            o => return Err(Error::param(name, format!("ord must be 1 or 2, got {o}"))),
        }
    }
    let axis = a.opt_tuple(name, "axis")?;
    Ok(Box::new(Reduce {
        name,
        kind,
        axis,
        keepdims: a.bool_or(name, "keepdims", false)?,
        exclude: a.bool_or(name, "exclude", false)?,
    }))
}

pub(super) fn register(r: &mut Registry) {
    let common = params!("axis" = Some("()"), "keepdims" = Some("False"), "exclude" = Some("False"));
    for (name, kind) in [
        ("sum", ReduceKind::Sum),
        ("mean", ReduceKind::Mean),
        ("prod", ReduceKind::Prod),
        ("nansum", ReduceKind::NanSum),
        ("max", ReduceKind::Max),
        ("min", ReduceKind::Min),
    ] {
        r.add(name, &["data"], common, "reduce over axes", move |a: &Attrs| create(name, kind, a));
    }
    r.alias("sum_axis", "sum");
    r.alias("max_axis", "max");
    r.alias("min_axis", "min");
    r.add(
        "norm",
        &["data"],
        params!("ord" = Some("2"), "axis" = Some("None"), "keepdims" = Some("False")),
        "L1 or L2 norm",
        |a: &Attrs| create("norm", ReduceKind::Norm, a),
    );
    for (name, kind) in [("argmax", ReduceKind::Argmax), ("argmin", ReduceKind::Argmin)] {
        r.add(
            name,
            &["data"],
            params!("axis" = Some("None"), "keepdims" = Some("False")),
            "index of the extreme value",
            move |a: &Attrs| create(name, kind, a),
        );
    }
    r.add("argmax_channel", &["data"], params!(), "argmax over the last axis", |_: &Attrs| {
        Ok(Box::new(Reduce {
            name: "argmax_channel",
            kind: ReduceKind::Argmax,
            axis: Some(vec![-1]),
            keepdims: false,
            exclude: false,
        }))
    });
}
