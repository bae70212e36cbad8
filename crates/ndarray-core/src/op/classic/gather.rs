//! N-d gathers and scatters and the index conversions: `gather_nd`, `scatter_nd`,
//! `_backward_gather_nd` (scatter with accumulation), `_ravel_multi_index`
//! (`ravel_multi_index`), `_unravel_index` (`unravel_index`), and the deprecated `batch_take`,
//! `fill_element_0index`, `_onehot_encode` and `choose_element_0index` (an alias of `pick`).
//!
//! Index inputs may have any dtype; their values are truncated to integers as MXNet's casts do.

use super::common::{prod, storage_of, values};
use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::grad::{Grads, dtype_of_input, shapes_of_inputs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// Where the index tuples of `gather_nd` / `scatter_nd` point: the first `dims.len()` axes of
/// the indexed array (gather_nd's data, scatter_nd's output), `n` tuples, `k` elements each.
struct NdLayout {
    dims: Vec<usize>,
    strides: Vec<usize>,
    n: usize,
    k: usize,
}

impl NdLayout {
    fn new(full: &[usize], idx: &[usize]) -> NdLayout {
        let m = idx[0];
        let k = prod(&full[m..]);
        let mut strides = vec![0; m];
        let mut s = k;
        for i in (0..m).rev() {
            strides[i] = s;
            s *= full[i];
        }
        NdLayout { dims: full[..m].to_vec(), strides, n: prod(&idx[1..]), k }
    }

    /// The flat offset of each tuple's first element; negative indices count from the end.
    fn offsets(&self, op: &str, idx: &[f64]) -> Result<Vec<usize>> {
        (0..self.n)
            .map(|i| {
                let mut off = 0;
                for (j, (&d, &st)) in self.dims.iter().zip(&self.strides).enumerate() {
                    let (v, d) = (idx[j * self.n + i] as i64, d as i64);
                    if v < -d || v >= d {
                        return Err(Error::Index(format!(
                            "{op}: index {v} is out of bounds for axis {j} with size {d}"
                        )));
                    }
                    off += st * v.rem_euclid(d) as usize;
                }
                Ok(off)
            })
            .collect()
    }
}

/// The checks gather_nd and scatter_nd share on the indices' shape against the indexed array.
fn check_indices(op: &str, full: &[usize], idx: &[usize], what: &str) -> Result<()> {
    let bad = |why: String| {
        Err(Error::shape(op, format!("indices {} and {what} {}: {why}", fmt_shape(idx), fmt_shape(full))))
    };
    if idx.len() < 2 {
        return bad("indices must have at least 2 dimensions".into());
    }
    if idx[0] == 0 || idx[0] > full.len() || idx[0] > 10 {
        return bad(format!("indices.shape[0] = {} must be from 1 to min(10, {what}'s ndim)", idx[0]));
    }
    Ok(())
}

#[derive(Debug)]
struct GatherNd;

impl Operator for GatherNd {
    fn name(&self) -> &str {
        "gather_nd"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("gather_nd", inputs.len(), 2)?;
        let (d, i) = (&inputs[0], &inputs[1]);
        check_indices("gather_nd", d, i, "data")?;
        Ok(vec![i[1..].iter().chain(&d[i[0]..]).copied().collect()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        dtype_of_input("gather_nd", 0, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let l = NdLayout::new(x[0].shape, x[1].shape);
        let offs = l.offsets("gather_nd", &values(&x[1]))?;
        let t = &x[0];
        Ok(vec![dispatch!(storage t.data => v: T, {
            let v = &v[t.offset..t.offset + t.len()];
            let mut o: Vec<T> = Vec::with_capacity(l.n * l.k);
            for &off in &offs {
                o.extend_from_slice(&v[off..off + l.k]);
            }
            T::wrap(o)
        })])
    }
}

/// `scatter_nd(data, indices, shape)` (later tuples win) and `_backward_gather_nd` (tuples
/// pointing at one place add up), whose output shape is its `shape` or, without one, the
/// shape of a third input (gather_nd's data, in gather_nd's gradient).
#[derive(Debug)]
struct ScatterNd {
    name: &'static str,
    acc: bool,
    shape: Option<Shape>,
}

impl ScatterNd {
    fn parse(name: &'static str, acc: bool, a: &Attrs) -> Result<ScatterNd> {
        a.check_known(name, &["shape"])?;
        let shape = match a.raw("shape") {
            Some(_) => Some(a.shape(name, "shape")?),
            None if acc => None,
            None => return Err(Error::param(name, "required parameter 'shape' is missing")),
        };
        Ok(ScatterNd { name, acc, shape })
    }
    fn out_shape<'a>(&'a self, inputs: &'a [Shape]) -> &'a Shape {
        self.shape.as_ref().unwrap_or(&inputs[inputs.len() - 1])
    }
}

impl Operator for ScatterNd {
    fn name(&self) -> &str {
        self.name
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let mut v = vec!["data".to_string(), "indices".to_string()];
        if self.shape.is_none() {
            v.push("like".into());
        }
        Some(v)
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), if self.shape.is_some() { 2 } else { 3 })?;
        let (d, i, o) = (&inputs[0], &inputs[1], self.out_shape(inputs));
        check_indices(self.name, o, i, "output shape")?;
        let m = i[0];
        let want: Shape = i[1..].iter().chain(&o[m..]).copied().collect();
        if *d != want {
            return Err(Error::shape(
                self.name,
                format!(
                    "data {} does not fit indices {} and output shape {}: expected data of shape {}",
                    fmt_shape(d),
                    fmt_shape(i),
                    fmt_shape(o),
                    fmt_shape(&want)
                ),
            ));
        }
        Ok(vec![o.clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        match &self.shape {
            Some(s) if inputs.iter().any(Option::is_none) => {
                crate::op::assign_shapes(self.name, outputs, std::slice::from_ref(s))
            }
            Some(_) => {
                let known: Vec<Shape> = inputs.iter().flatten().cloned().collect();
                crate::op::assign_shapes(self.name, outputs, &self.infer_shape(&known)?)
            }
            None => shapes_of_inputs(self, &[2], inputs, outputs),
        }
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        dtype_of_input(self.name, 0, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let l = NdLayout::new(&out[0], x[1].shape);
        let offs = l.offsets(self.name, &values(&x[1]))?;
        let t = &x[0];
        Ok(vec![dispatch!(storage t.data => v: T, {
            let v = &v[t.offset..t.offset + t.len()];
            let mut o: Vec<T> = vec![T::from_f64(0.0); prod(&out[0])];
            for (i, &off) in offs.iter().enumerate() {
                let src = &v[i * l.k..(i + 1) * l.k];
                if self.acc {
                    for (d, s) in o[off..off + l.k].iter_mut().zip(src) {
                        *d = T::from_f64(d.to_f64() + s.to_f64());
                    }
                } else {
                    o[off..off + l.k].copy_from_slice(src);
                }
            }
            T::wrap(o)
        })])
    }
}

/// `_ravel_multi_index` (`unravel = false`) and `_unravel_index`: flat indices from columns
/// of multi-indices and back, for an array of `shape` (its first entry may be -1).
#[derive(Debug)]
struct Ravel {
    name: &'static str,
    unravel: bool,
    shape: Vec<i64>,
}

impl Operator for Ravel {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        let (s, nd) = (&inputs[0], self.shape.len());
        let ok = if self.unravel { s.len() == 1 } else { s.len() == 2 && s[0] == nd };
        if !ok {
            let want = if self.unravel { "1-D".to_string() } else { format!("2-D with {nd} rows") };
            return Err(Error::shape(
                self.name,
                format!("data {} must be {want} for shape {:?}", fmt_shape(s), self.shape),
            ));
        }
        Ok(vec![if self.unravel { vec![nd, s[0]] } else { vec![s[1]] }])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let v = values(&x[0]);
        let nd = self.shape.len();
        let o: Vec<f64> = if self.unravel {
            let n = v.len();
            let mut o = vec![0.0; nd * n];
            for (i, &f) in v.iter().enumerate() {
                let mut idx = f as i64;
                for j in (1..nd).rev() {
                    let tmp = idx / self.shape[j];
                    o[i + j * n] = (idx - tmp * self.shape[j]) as f64;
                    idx = tmp;
                }
                o[i] = idx as f64;
            }
            o
        } else {
            let n = out[0][0];
            (0..n).map(|i| (0..nd).fold(0i64, |r, j| r * self.shape[j] + v[i + j * n] as i64) as f64).collect()
        };
        Ok(vec![storage_of(dt[0], o)])
    }
}

fn ravel(name: &'static str, unravel: bool, a: &Attrs) -> Result<Box<dyn Operator>> {
    a.check_known(name, &["shape"])?;
    let shape = a.opt_tuple(name, "shape")?.unwrap_or_default();
    if shape.is_empty() || shape[1..].iter().any(|&d| d <= 0) {
        return Err(Error::param(
            name,
            format!("shape {shape:?} must be non-empty with positive dimensions (the first may be -1)"),
        ));
    }
    Ok(Box::new(Ravel { name, unravel, shape }))
}

/// `batch_take(a, indices)`: `out[i] = a[i, indices[i]]`, indices clipped to the row.
#[derive(Debug)]
struct BatchTake;

impl Operator for BatchTake {
    fn name(&self) -> &str {
        "batch_take"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("batch_take", inputs.len(), 2)?;
        let (a, i) = (&inputs[0], &inputs[1]);
        let rows = if a.len() >= 2 && a[a.len() - 1] > 0 { Some(prod(a) / a[a.len() - 1]) } else { None };
        if a.len() < 2 || a[0] == 0 || rows != Some(prod(i)) {
            return Err(Error::shape(
                "batch_take",
                format!(
                    "a {} must be at least 2-D with one index per row (without its last axis); got indices {}",
                    fmt_shape(a),
                    fmt_shape(i)
                ),
            ));
        }
        Ok(vec![i.clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        dtype_of_input("batch_take", 0, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let m = x[0].len() / x[0].shape[0];
        let idx = values(&x[1]);
        let t = &x[0];
        Ok(vec![dispatch!(storage t.data => v: T, {
            let v = &v[t.offset..t.offset + t.len()];
            T::wrap(idx.iter().enumerate().map(|(i, &j)| v[i * m + (j as i64).clamp(0, m as i64 - 1) as usize]).collect())
        })])
    }
}

/// `fill_element_0index(lhs, mhs, rhs)`: lhs with `lhs[i, rhs[i]] = mhs[i]` (legacy, 2-D).
/// `_onehot_encode(indices, out)`: rows of `out`'s shape, 1 at each index, 0 elsewhere.
#[derive(Debug)]
struct RowFill {
    name: &'static str,
    onehot: bool,
}

impl Operator for RowFill {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), if self.onehot { 2 } else { 3 })?;
        let m = if self.onehot { &inputs[1] } else { &inputs[0] };
        let rest = if self.onehot { &inputs[..1] } else { &inputs[1..] };
        if m.len() != 2 || rest.iter().any(|r| prod(r) != m[0]) {
            let names = if self.onehot { "indices" } else { "mhs and rhs" };
            let got: Vec<String> = inputs.iter().map(|s| fmt_shape(s)).collect();
            return Err(Error::shape(
                self.name,
                format!("needs a 2-D matrix and {names} with one value per row; got {}", got.join(", ")),
            ));
        }
        Ok(vec![m.clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[if self.onehot { 1 } else { 0 }]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        dtype_of_input(self.name, if self.onehot { 1 } else { 0 }, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let k = out[0][1];
        if self.onehot {
            let mut o = vec![0.0; prod(&out[0])];
            for (i, &j) in values(&x[0]).iter().enumerate() {
                let j = j as i64;
                if (0..k as i64).contains(&j) {
                    o[i * k + j as usize] = 1.0;
                }
            }
            return Ok(vec![storage_of(dt[0], o)]);
        }
        let mut o = x[0].to_storage();
        let val = values(&x[1]);
        for (i, &j) in values(&x[2]).iter().enumerate() {
            let j = j as i64;
            if !(0..k as i64).contains(&j) {
                return Err(Error::Index(format!("{}: index {j} is out of bounds for rows of {k}", self.name)));
            }
            o.copy_in(i * k + j as usize, &storage_of(dt[0], vec![val[i]]))?;
        }
        Ok(vec![o])
    }
}

/// gather_nd: the output gradient added back where it was gathered from; indices get none.
fn grad_gather_nd(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply("_backward_gather_nd", &[g[0], x[1], x[0]], Attrs::default())?), None])
}

/// scatter_nd: the output gradient gathered at the indices; indices get none.
fn grad_scatter_nd(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply("gather_nd", &[g[0], x[1]], Attrs::default())?), None])
}

/// ravel / unravel: zero gradients, as MXNet's `MakeZeroGradNodes`.
fn grad_zero(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

pub(super) fn register(r: &mut Registry) {
    r.add("gather_nd", &["data", "indices"], params!(), "gather elements or slices by N-d index tuples", |a| {
        a.check_known("gather_nd", &[])?;
        Ok(Box::new(GatherNd))
    });
    r.add(
        "scatter_nd",
        &["data", "indices"],
        params!("shape" = None),
        "scatter data into zeros of a shape at N-d index tuples",
        |a| Ok(Box::new(ScatterNd::parse("scatter_nd", false, a)?)),
    );
    r.add(
        "_backward_gather_nd",
        &["data", "indices", "like"],
        params!("shape" = Some("None")),
        "gradient of gather_nd: data added up at N-d index tuples into zeros of shape (or like's shape)",
        |a| Ok(Box::new(ScatterNd::parse("_backward_gather_nd", true, a)?)),
    );
    r.set_gradient("gather_nd", grad_gather_nd);
    r.set_gradient("scatter_nd", grad_scatter_nd);
    for (name, alias, unravel, doc) in [
        ("_ravel_multi_index", "ravel_multi_index", false, "flat indices from columns of multi-indices"),
        ("_unravel_index", "unravel_index", true, "columns of multi-indices from flat indices"),
    ] {
        r.add(name, &["data"], params!("shape" = Some("None")), doc, move |a| ravel(name, unravel, a));
        r.set_gradient(name, grad_zero);
        r.alias(alias, name);
    }
    r.add("batch_take", &["a", "indices"], params!(), "one element per row (deprecated; use pick)", |a| {
        a.check_known("batch_take", &[])?;
        Ok(Box::new(BatchTake))
    });
    r.add("fill_element_0index", &["lhs", "mhs", "rhs"], params!(), "lhs with lhs[i, rhs[i]] set to mhs[i]", |a| {
        a.check_known("fill_element_0index", &[])?;
        Ok(Box::new(RowFill { name: "fill_element_0index", onehot: false }))
    });
    r.add("_onehot_encode", &["lhs", "rhs"], params!(), "one-hot rows of rhs's shape (deprecated)", |a| {
        a.check_known("_onehot_encode", &[])?;
        Ok(Box::new(RowFill { name: "_onehot_encode", onehot: true }))
    });
    r.alias("choose_element_0index", "pick");
}
