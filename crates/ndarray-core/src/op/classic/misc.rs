//! `nanprod`, `khatri_rao`, `_histogram`, `_split_v2` and `make_loss`.

use super::common::{prod, storage_of, values};
use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape, norm_axis};
use crate::storage::{CpuStorage, StorageElement};

/// `nanprod`: `prod` (the wrapped op, with the same attributes) with NaN counted as 1.
#[derive(Debug)]
struct NanProd(Box<dyn Operator>);

impl Operator for NanProd {
    fn name(&self) -> &str {
        "nanprod"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        self.0.infer_shape(inputs)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        self.0.infer_dtype(inputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let t = &x[0];
        let clean = dispatch!(storage t.data => v: T, {
            let one = T::from_f64(1.0);
            T::wrap(v[t.offset..t.offset + t.len()].iter().map(|&a| if a.to_f64().is_nan() { one } else { a }).collect())
        });
        self.0.forward(ctx, &[TensorIn { data: &clean, offset: 0, shape: t.shape }], out, dt)
    }
}

/// nanprod: `g * y / x` broadcast back, zero at the NaN elements.
fn grad_nanprod(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let at = pick_attrs(a, &["axis", "keepdims", "exclude"]);
    let gb = b.apply("_broadcast_reduced_like", &[g[0], x[0]], at.clone())?;
    let yb = b.apply("_broadcast_reduced_like", &[y[0], x[0]], at)?;
    let mask = b.binary("_equal", x[0], x[0])?;
    let ones = b.unary("ones_like", x[0])?;
    let clean = b.apply("where", &[mask, x[0], ones], Attrs::default())?;
    let t = b.mul(gb, yb)?;
    let t = b.div(t, clean)?;
    Ok(vec![Some(b.mul(t, mask)?)])
}

/// `khatri_rao(*args)`: the column-wise Kronecker product of matrices with one column count.
#[derive(Debug)]
struct KhatriRao(usize);

impl Operator for KhatriRao {
    fn name(&self) -> &str {
        "khatri_rao"
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some((0..self.0).map(|i| format!("arg{i}")).collect())
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("khatri_rao", inputs.len(), self.0)?;
        let cols = inputs[0].get(1).copied();
        if inputs.iter().any(|s| s.len() != 2 || Some(s[1]) != cols) {
            let got: Vec<String> = inputs.iter().map(|s| fmt_shape(s)).collect();
            return Err(Error::shape(
                "khatri_rao",
                format!("inputs must be matrices with one number of columns, got {}", got.join(", ")),
            ));
        }
        Ok(vec![vec![inputs.iter().map(|s| s[0]).product(), inputs[0][1]]])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let cols = out[0][1];
        // Row r of the product is the row tuple (r_1, ..., r_n), the first matrix's slowest.
        let mut acc: Vec<f64> = vec![1.0; cols];
        for t in x {
            let v = values(t);
            let rows = t.shape[0];
            let mut next = Vec::with_capacity(acc.len() * rows);
            for prev in acc.chunks(cols) {
                for r in 0..rows {
                    next.extend(prev.iter().zip(&v[r * cols..(r + 1) * cols]).map(|(p, q)| p * q));
                }
            }
            acc = next;
        }
        Ok(vec![storage_of(dt[0], acc)])
    }
}

/// `_histogram(data)` with `bin_cnt` equal bins over `range`, or `_histogram(data, bins)` with
/// the bin edges given: the counts (int64) and the edges.
#[derive(Debug)]
struct Histogram {
    uniform: Option<(usize, f64, f64)>,
}

impl Histogram {
    fn parse(a: &Attrs) -> Result<Histogram> {
        let name = "_histogram";
        a.check_known(name, &["bin_cnt", "range"])?;
        let cnt = a.opt_int(name, "bin_cnt")?;
        let range = match a.raw("range").map(str::trim) {
            None | Some("None") => None,
            Some(s) => {
                let parts: Option<Vec<f64>> = s
                    .trim_matches(['(', ')', '[', ']'])
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| p.trim().parse().ok())
                    .collect();
                match parts.as_deref() {
                    Some(&[lo, hi]) if lo <= hi => Some((lo, hi)),
                    _ => {
                        return Err(Error::param(name, format!("range must be (low, high) with low <= high, got {s}")));
                    }
                }
            }
        };
        let uniform = match (cnt, range) {
            (Some(c), Some((lo, hi))) if c > 0 => {
                let (lo, hi) = if lo == hi { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
                Some((c as usize, lo, hi))
            }
            (None, None) => None,
            _ => return Err(Error::param(name, "bin_cnt (positive) and range must both be given, or neither")),
        };
        Ok(Histogram { uniform })
    }

    /// The bin of `d` among `bounds` (`n + 1` edges), if any.
    fn bin(&self, d: f64, bounds: &[f64]) -> Option<usize> {
        let n = bounds.len() - 1;
        match self.uniform {
            Some((cnt, lo, hi)) => {
                if !(d >= lo && d <= hi) {
                    return None;
                }
                let mut t = (((d - lo) * cnt as f64 / (hi - lo)) as usize).min(cnt - 1);
                if t > 0 && d < bounds[t] {
                    t -= 1;
                }
                if t != cnt - 1 && d >= bounds[t + 1] {
                    t += 1;
                }
                Some(t)
            }
            None => {
                if !(d >= bounds[0] && d <= bounds[n]) {
                    return None;
                }
                let above = bounds.iter().take_while(|&&b| d - b >= 0.0).count();
                Some((above - 1).min(n - 1))
            }
        }
    }
}

impl Operator for Histogram {
    fn name(&self) -> &str {
        "_histogram"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some(if self.uniform.is_some() { vec!["data".into()] } else { vec!["data".into(), "bins".into()] })
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("_histogram", inputs.len(), if self.uniform.is_some() { 1 } else { 2 })?;
        if let Some((cnt, _, _)) = self.uniform {
            return Ok(vec![vec![cnt], vec![cnt + 1]]);
        }
        let b = &inputs[1];
        if b.len() != 1 || b[0] < 2 {
            return Err(Error::shape("_histogram", format!("bins {} must be 1-D with at least 2 edges", fmt_shape(b))));
        }
        Ok(vec![vec![b[0] - 1], b.clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::I64, inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        outputs[0] = Some(DType::I64);
        if let Some(d) = inputs[0] {
            outputs[1] = Some(d);
            if let Some(b) = inputs.get_mut(1) {
                b.get_or_insert(d);
            }
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let dt = x[0].dtype();
        let bounds = match self.uniform {
            Some((cnt, lo, hi)) => {
                let b = (0..=cnt).map(|i| (hi * i as f64 + (cnt - i) as f64 * lo) / cnt as f64).collect();
                values(&TensorIn { data: &storage_of(dt, b), offset: 0, shape: &out[1] })
            }
            None => values(&x[1]),
        };
        let mut counts = vec![0i64; out[0][0]];
        for d in values(&x[0]) {
            if let Some(t) = self.bin(d, &bounds) {
                counts[t] += 1;
            }
        }
        Ok(vec![CpuStorage::I64(counts.into()), storage_of(dt, bounds)])
    }
}

/// `_split_v2(data)`: the pieces of `data` along `axis` starting at each of `indices` (or
/// `sections` nearly equal pieces), the axis dropped with `squeeze_axis`.
#[derive(Debug)]
struct SplitV2 {
    indices: Vec<i64>,
    axis: i64,
    squeeze: bool,
    sections: usize,
}

impl SplitV2 {
    /// The (start, end) of each piece on an axis of length `n`.
    fn bounds(&self, n: usize) -> Result<Vec<(usize, usize)>> {
        let starts: Vec<i64> = match (n.checked_div(self.sections), n.checked_rem(self.sections)) {
            (Some(b), Some(extra)) => (0..self.sections).map(|i| (i * b + i.min(extra)) as i64).collect(),
            _ => self.indices.clone(),
        };
        let mut out = Vec::with_capacity(starts.len());
        for (i, &s) in starts.iter().enumerate() {
            let e = starts.get(i + 1).copied().unwrap_or(n as i64);
            let (s, e) = if n == 0 { (s.max(0), s.max(0)) } else { (s, e) };
            if s < 0 || s > e || e > n as i64 {
                return Err(Error::shape(
                    "_split_v2",
                    format!("piece {i} [{s}, {e}) does not fit an axis of length {n} (indices {:?})", starts),
                ));
            }
            if self.squeeze && e - s != 1 {
                return Err(Error::shape(
                    "_split_v2",
                    format!("squeeze_axis needs pieces of size 1, piece {i} has {}", e - s),
                ));
            }
            out.push((s as usize, e as usize));
        }
        Ok(out)
    }
}

impl Operator for SplitV2 {
    fn name(&self) -> &str {
        "_split_v2"
    }
    fn num_outputs(&self) -> usize {
        if self.sections > 0 { self.sections } else { self.indices.len() }
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("_split_v2", inputs.len(), 1)?;
        let s = &inputs[0];
        let ax = norm_axis("_split_v2", self.axis, s.len())?;
        Ok(self
            .bounds(s[ax])?
            .into_iter()
            .map(|(b, e)| {
                let mut o = s.clone();
                if self.squeeze {
                    o.remove(ax);
                } else {
                    o[ax] = e - b;
                }
                o
            })
            .collect())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let ax = norm_axis("_split_v2", self.axis, s.len())?;
        let (outer, n, inner) = (prod(&s[..ax]), s[ax], prod(&s[ax + 1..]));
        let t = &x[0];
        let pieces = self.bounds(n)?;
        Ok(dispatch!(storage t.data => v: T, {
            let v = &v[t.offset..t.offset + t.len()];
            pieces
                .iter()
                .map(|&(b, e)| {
                    let mut o: Vec<T> = Vec::with_capacity(outer * (e - b) * inner);
                    for p in 0..outer {
                        o.extend_from_slice(&v[(p * n + b) * inner..(p * n + e) * inner]);
                    }
                    T::wrap(o)
                })
                .collect()
        }))
    }
}

/// `_split_v2`: the output gradients joined back (stacked when the axis was squeezed).
fn grad_split_v2(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let name = "_split_v2";
    let axis = a.int_or(name, "axis", 1)?.to_string();
    let n = g.len().to_string();
    let out = if a.bool_or(name, "squeeze_axis", false)? {
        b.apply("stack", g, Attrs::from_pairs([("axis", axis), ("num_args", n)]))?
    } else {
        b.apply("Concat", g, Attrs::from_pairs([("dim", axis), ("num_args", n)]))?
    };
    Ok(vec![Some(out)])
}

/// `make_loss`: the identity, whose input's gradient is ones whatever the output's.
#[derive(Debug)]
struct MakeLossV2;

impl Operator for MakeLossV2 {
    fn name(&self) -> &str {
        "make_loss"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        crate::op::same_shape_unary("make_loss", inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        crate::op::same_shape_partial("make_loss", inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![x[0].to_storage()])
    }
}

fn grad_make_loss(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.unary("ones_like", x[0])?)])
}

fn split_v2(a: &Attrs) -> Result<Box<dyn Operator>> {
    let name = "_split_v2";
    a.check_known(name, &["indices", "axis", "squeeze_axis", "sections"])?;
    let sections = a.int_or(name, "sections", 0)?;
    let indices = a.opt_tuple(name, "indices")?.unwrap_or_default();
    if sections < 0 || (sections == 0 && indices.is_empty()) || sections > crate::op::attrs::MAX_ARITY as i64 {
        return Err(Error::param(name, "give indices (non-empty) or sections (positive)"));
    }
    Ok(Box::new(SplitV2 {
        indices,
        axis: a.int_or(name, "axis", 1)?,
        squeeze: a.bool_or(name, "squeeze_axis", false)?,
        sections: sections as usize,
    }))
}

pub(super) fn register(r: &mut Registry) {
    let common = params!("axis" = Some("()"), "keepdims" = Some("False"), "exclude" = Some("False"));
    let prod = r.get("prod").expect("reductions are registered first").create.clone();
    r.add("nanprod", &["data"], common, "product over axes, NaN counted as one", move |a: &Attrs| {
        a.check_known("nanprod", &["axis", "keepdims", "exclude"])?;
        Ok(Box::new(NanProd(prod(a)?)))
    });
    r.set_gradient("nanprod", grad_nanprod);
    r.add("khatri_rao", &["*args"], params!("num_args" = None), "column-wise Khatri-Rao product", |a: &Attrs| {
        a.check_known("khatri_rao", &["num_args"])?;
        Ok(Box::new(KhatriRao(a.count("khatri_rao", "num_args")?)))
    });
    r.add(
        "_histogram",
        &["data", "bins"],
        params!("bin_cnt" = Some("None"), "range" = Some("None")),
        "histogram of the values (counts and bin edges)",
        |a: &Attrs| Ok(Box::new(Histogram::parse(a)?)),
    );
    r.add(
        "_split_v2",
        &["data"],
        params!("indices" = None, "axis" = Some("1"), "squeeze_axis" = Some("False"), "sections" = Some("0")),
        "split along an axis at indices or into sections",
        split_v2,
    );
    r.set_gradient("_split_v2", grad_split_v2);
    r.add("make_loss", &["data"], params!(), "identity whose input's gradient is ones", |a: &Attrs| {
        a.check_known("make_loss", &[])?;
        Ok(Box::new(MakeLossV2))
    });
    r.set_gradient("make_loss", grad_make_loss);
}
