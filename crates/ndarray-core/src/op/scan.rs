//! `cumsum` (the cumulative sum along an axis, or over the flattened array) and `_eye` (behind
//! `mx.nd.eye` and `mx.sym.eye`).

use super::grad::Grads;
use super::registry::Registry;
use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{Shape, norm_axis, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

#[derive(Debug)]
struct Cumsum {
    axis: Option<i64>,
    dtype: Option<DType>,
}

impl Cumsum {
    /// (outer, n, inner) around the summed axis.
    fn layout(&self, s: &[usize]) -> Result<(usize, usize, usize)> {
        Ok(match self.axis {
            None => (1, size_of(s), 1),
            Some(a) => {
                let ax = norm_axis("cumsum", a, s.len())?;
                (size_of(&s[..ax]), s[ax], size_of(&s[ax + 1..]))
            }
        })
    }
}

impl Operator for Cumsum {
    fn name(&self) -> &str {
        "cumsum"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("cumsum", inputs.len(), 1)?;
        self.layout(&inputs[0])?;
        Ok(vec![if self.axis.is_none() { vec![size_of(&inputs[0])] } else { inputs[0].clone() }])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        // As MXNet 1.9.1: the input's dtype unless `dtype` is given.
        Ok(vec![self.dtype.unwrap_or(inputs[0])])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        if let Some(d) = inputs[0] {
            outputs[0] = Some(self.infer_dtype(&[d])?[0]);
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (outer, n, inner) = self.layout(x[0].shape)?;
        let t = &x[0];
        let v: Vec<f64> =
            dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|a| a.to_f64()).collect() });
        let mut out = v;
        for p in 0..outer {
            for i in 1..n {
                for q in 0..inner {
                    let (prev, cur) = ((p * n + i - 1) * inner + q, (p * n + i) * inner + q);
                    out[cur] += out[prev];
                }
            }
        }
        Ok(vec![dispatch!(dtype dt[0] => T, { T::wrap(out.into_iter().map(T::from_f64).collect()) })])
    }
}

/// cumsum: the reversed cumulative sum of the output gradient (`reverse(cumsum(reverse(g)))`),
/// reshaped like the data when the sum ran over the flattened array.
fn grad_cumsum(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let axis = a.raw("axis").map(str::to_string);
    let ax = axis.clone().unwrap_or_else(|| "0".to_string());
    let rev = || Attrs::from_pairs([("axis", ax.clone())]);
    let r = b.apply("reverse", &[g[0]], rev())?;
    let c = b.apply("cumsum", &[r], Attrs::from_pairs([("axis", ax.clone())]))?;
    let d = b.apply("reverse", &[c], rev())?;
    Ok(vec![Some(if axis.is_none() { b.binary("reshape_like", d, x[0])? } else { d })])
}

/// `_eye(N, M, k, dtype)`: ones on the k-th diagonal of an N x M matrix (M = N when 0).
#[derive(Debug)]
struct Eye {
    n: usize,
    m: usize,
    k: i64,
    dtype: DType,
}

impl Operator for Eye {
    fn name(&self) -> &str {
        "_eye"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("_eye", inputs.len(), 0)?;
        Ok(vec![vec![self.n, self.m]])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.dtype])
    }
    fn forward(&self, _: &mut OpCtx<'_>, _: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let mut s = CpuStorage::try_full("_eye", self.dtype, self.n * self.m, 0.0)?;
        dispatch!(storage &mut s => v: T, {
            for i in 0..self.n {
                let j = i as i64 + self.k;
                if (0..self.m as i64).contains(&j) {
                    v[i * self.m + j as usize] = T::from_f64(1.0);
                }
            }
        });
        Ok(vec![s])
    }
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "cumsum",
        &["a"],
        params!("axis" = Some("None"), "dtype" = Some("None")),
        "cumulative sum along an axis",
        |a: &Attrs| {
            a.check_known("cumsum", &["axis", "dtype"])?;
            Ok(Box::new(Cumsum { axis: a.opt_int("cumsum", "axis")?, dtype: a.opt_dtype("cumsum", "dtype")? }))
        },
    );
    r.set_gradient("cumsum", grad_cumsum);
    r.add(
        "_eye",
        &[],
        params!("N" = None, "M" = Some("0"), "k" = Some("0"), "dtype" = Some("'float32'")),
        "an identity-like matrix with ones on the k-th diagonal",
        |a: &Attrs| {
            a.check_known("_eye", &["N", "M", "k", "ctx", "dtype"])?;
            let n = a.int("_eye", "N")?;
            let m = a.int_or("_eye", "M", 0)?;
            if n < 0 || m < 0 {
                return Err(Error::shape("_eye", format!("N and M must be non-negative, got {n} and {m}")));
            }
            let (n, m) = (n as usize, m as usize);
            let dtype = a.opt_dtype("_eye", "dtype")?.unwrap_or(DType::F32);
            Ok(Box::new(Eye { n, m: if m == 0 { n } else { m }, k: a.int_or("_eye", "k", 0)?, dtype }))
        },
    );
}

#[cfg(test)]
mod tests {
    use crate::eager_grad::testing::{arr, check};

    #[test]
    fn cumsum_gradients() {
        check("cumsum", &[("axis", "1")], &[arr(&[2, 3, 2], 1)], &[0]);
        check("cumsum", &[], &[arr(&[2, 3], 2)], &[0]);
    }
}
