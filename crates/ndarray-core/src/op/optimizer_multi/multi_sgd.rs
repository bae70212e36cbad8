//! The aggregated SGD updates: `multi_sgd_update`, `multi_sgd_mom_update`, `multi_mp_sgd_update`,
//! `multi_mp_sgd_mom_update` (rates and weight decays as tuple parameters) and their
//! `preloaded_multi_*` forms (rates and weight decays as the last two float32 inputs).
//!
//! Inputs come in groups per weight: `weight, grad[, mom][, weight32]`. Each group follows
//! MXNet's `MultiSGDKernel`: `mom = momentum*mom - lr*wd*w - lr*clip(rescale*grad)`,
//! `w += mom`. The `mp` forms compute in float32 on the master copy `weight32` when the weight
//! is not float32 (for float32 weights MXNet reads and writes the weight itself, and leaves
//! `weight32` as it is).

use num_traits::Float;

use rayon::prelude::*;

use super::common::{
    borrow_or_load, compute_is_f64, expect_count, f32_dtype, f32_param, float_dtype, float_tuple, group_names, load,
    num_weights, same_shapes, scaled, store,
};
use crate::backend::cpu::{PAR_CHUNK, Parallelism};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, OpCtx, Operator, Slot, TensorIn};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

#[derive(Debug)]
struct MultiSgd {
    name: &'static str,
    mom: bool,
    mp: bool,
    preloaded: bool,
    n: usize,
    /// Per-weight rates and decays (empty when preloaded: they are inputs).
    lrs: Vec<f64>,
    wds: Vec<f64>,
    momentum: f64,
    rescale: f64,
    clip: f64,
}

/// Chunk `c` of a step's outputs: its index, the new weight's and the new momentum's parts.
type Chunk<'a, T> = (usize, &'a mut [T], Option<&'a mut [T]>);

/// One step's coefficients, in the compute type.
#[derive(Clone, Copy)]
struct Coefs<T> {
    lr: T,
    wd: T,
    momentum: T,
    rescale: T,
    bound: T,
}

impl<T: Float> Coefs<T> {
    /// One element's step: the new weight and the new momentum, `v = momentum * m - lr * wd *
    /// w - lr * clip(rescale * g)` and `w + v` (`m` is zero without momentum).
    #[inline(always)]
    fn apply(&self, w: T, g: T, m: T) -> (T, T) {
        let v = self.momentum * m - self.lr * self.wd * w - self.lr * scaled(g, self.rescale, self.bound);
        (w + v, v)
    }
}

/// One group's step over `T`: the new weight and, with momentum, the new momentum, computed
/// into fresh buffers chunk by chunk, split over the op's threads for large weights (an
/// SGD step reads three arrays and writes two: memory bound, so the inputs are read in place
/// rather than copied first).
fn step<T: Float + StorageElement + Send + Sync>(
    par: Parallelism,
    w: &[T],
    g: &[T],
    mom: Option<&[T]>,
    k: Coefs<T>,
) -> (Vec<T>, Option<Vec<T>>) {
    let zero = <T as num_traits::Zero>::zero();
    let n = w.len();
    let mut new_w: Vec<T> = crate::pool::alloc(n);
    let mut new_m: Option<Vec<T>> = mom.map(|_| crate::pool::alloc(n));
    // Chunk `c` of the outputs: elements `c * PAR_CHUNK ..`.
    let body = |c: usize, ow: &mut [T], om: Option<&mut [T]>| {
        let r = c * PAR_CHUNK..c * PAR_CHUNK + ow.len();
        let (w, g) = (&w[r.clone()], &g[r.clone()]);
        match (om, mom) {
            (Some(om), Some(m)) => {
                for ((((ow, om), &w), &g), &m) in ow.iter_mut().zip(om.iter_mut()).zip(w).zip(g).zip(&m[r]) {
                    (*ow, *om) = k.apply(w, g, m);
                }
            }
            _ => {
                for ((ow, &w), &g) in ow.iter_mut().zip(w).zip(g) {
                    *ow = k.apply(w, g, zero).0;
                }
            }
        }
    };
    let chunks: Vec<Chunk<'_, T>> = match new_m.as_mut() {
        Some(m) => new_w
            .chunks_mut(PAR_CHUNK)
            .zip(m.chunks_mut(PAR_CHUNK))
            .enumerate()
            .map(|(c, (ow, om))| (c, ow, Some(om)))
            .collect(),
        None => new_w.chunks_mut(PAR_CHUNK).enumerate().map(|(c, ow)| (c, ow, None)).collect(),
    };
    if par.split_cheap(n) {
        chunks.into_par_iter().for_each(|(c, ow, om)| body(c, ow, om));
    } else {
        chunks.into_iter().for_each(|(c, ow, om)| body(c, ow, om));
    }
    (new_w, new_m)
}

/// [`step`] in place: the weight and the momentum are overwritten with their new values
/// (the same arithmetic, so the same results).
fn step_in_place<T: Float + Send + Sync>(par: Parallelism, w: &mut [T], g: &[T], mom: Option<&mut [T]>, k: Coefs<T>) {
    let zero = <T as num_traits::Zero>::zero();
    let body = |w: &mut [T], g: &[T], m: Option<&mut [T]>| match m {
        Some(m) => {
            for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
                (*w, *m) = k.apply(*w, g, *m);
            }
        }
        None => {
            for (w, &g) in w.iter_mut().zip(g) {
                *w = k.apply(*w, g, zero).0;
            }
        }
    };
    let split = par.split_cheap(w.len());
    match mom {
        Some(m) if split => w
            .par_chunks_mut(PAR_CHUNK)
            .zip(m.par_chunks_mut(PAR_CHUNK))
            .zip(g.par_chunks(PAR_CHUNK))
            .for_each(|((w, m), g)| body(w, g, Some(m))),
        None if split => w.par_chunks_mut(PAR_CHUNK).zip(g.par_chunks(PAR_CHUNK)).for_each(|(w, g)| body(w, g, None)),
        m => body(w, g, m),
    }
}

impl MultiSgd {
    /// The step's coefficients in `T` for a group's learning rate and weight decay.
    fn coefs<T: Float>(&self, lr: f64, wd: f64) -> Coefs<T> {
        let c = |v: f64| T::from(v).unwrap_or_else(T::nan);
        Coefs { lr: c(lr), wd: c(wd), momentum: c(self.momentum), rescale: c(self.rescale), bound: c(self.clip) }
    }
    fn stride(&self) -> usize {
        2 + usize::from(self.mom) + usize::from(self.mp)
    }
    fn num_inputs(&self) -> usize {
        self.n * self.stride() + if self.preloaded { 2 } else { 0 }
    }
    fn how(&self) -> String {
        let mut per = vec!["weight", "grad"];
        if self.mom {
            per.push("mom");
        }
        if self.mp {
            per.push("weight32");
        }
        let tail = if self.preloaded { ", then lrs and wds" } else { "" };
        format!("{} per weight for num_weights={}{tail}", per.join(", "), self.n)
    }

    /// Rates and decays of every weight, from the parameters or the last two inputs.
    fn rates(&self, x: &[TensorIn<'_>]) -> (Vec<f64>, Vec<f64>) {
        if self.preloaded {
            let k = self.n * self.stride();
            let f = |t: &TensorIn<'_>| load::<f32>(t).into_iter().map(f64::from).collect();
            (f(&x[k]), f(&x[k + 1]))
        } else {
            (self.lrs.clone(), self.wds.clone())
        }
    }

    /// One group's step in place over `T` (the dtype of all three arrays, checked).
    fn update_group<T: Float + StorageElement + Send + Sync>(
        &self,
        par: Parallelism,
        w: &mut CpuStorage,
        g: &TensorIn<'_>,
        mom: Option<&mut CpuStorage>,
        lr: f64,
        wd: f64,
    ) {
        let w = T::slice_mut(w).expect("the weight's dtype was checked");
        let mom = mom.map(|m| T::slice_mut(m).expect("the momentum's dtype was checked"));
        step_in_place(par, w, g.typed::<T>(), mom, self.coefs(lr, wd));
    }

    /// Group `i` computed in `T`: the new weight (in `out_dtype`) and the new mom and weight32.
    fn group<T: Float + StorageElement + Send + Sync>(
        &self,
        par: Parallelism,
        x: &[TensorIn<'_>],
        i: usize,
        lr: f64,
        wd: f64,
        out_dtype: DType,
    ) -> (CpuStorage, Vec<CpuStorage>) {
        let base = i * self.stride();
        // With a float32 weight, MXNet's mp kernels work on the weight and ignore weight32.
        let master = self.mp && x[base].dtype() != DType::F32;
        let w = borrow_or_load::<T>(if master { &x[base + self.stride() - 1] } else { &x[base] });
        let g = borrow_or_load::<T>(&x[base + 1]);
        let mom = self.mom.then(|| borrow_or_load::<T>(&x[base + 2]));
        let (new, new_mom) = step(par, &w, &g, mom.as_deref(), self.coefs(lr, wd));
        let mut states = Vec::new();
        if let Some(m) = new_mom {
            states.push(store(m, x[base + 2].dtype()));
        }
        if self.mp {
            let w32 = &x[base + self.stride() - 1];
            states.push(if master { store(new.clone(), DType::F32) } else { w32.to_storage() });
        }
        (store(new, out_dtype), states)
    }
}

impl Operator for MultiSgd {
    fn name(&self) -> &str {
        self.name
    }
    fn num_outputs(&self) -> usize {
        self.n
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let mut per = vec!["weight", "grad"];
        if self.mom {
            per.push("mom");
        }
        if self.mp {
            per.push("weight32");
        }
        let mut names = group_names(self.n, &per);
        if self.preloaded {
            names.extend(["lrs".to_string(), "wds".to_string()]);
        }
        Some(names)
    }
    fn infer_shape(&self, s: &[Shape]) -> Result<Vec<Shape>> {
        expect_count(self.name, s.len(), self.num_inputs(), &self.how())?;
        if !self.preloaded {
            for (key, v) in [("lrs", &self.lrs), ("wds", &self.wds)] {
                if v.len() != self.n {
                    return Err(Error::param(
                        self.name,
                        format!("{key} has {} values but num_weights is {}", v.len(), self.n),
                    ));
                }
            }
        }
        let k = self.stride();
        for i in 0..self.n {
            let idx: Vec<usize> = (i * k..(i + 1) * k).collect();
            same_shapes(self.name, s, &idx, &format!("weight {i}: its grad and states must have its shape"))?;
        }
        if self.preloaded {
            for (j, key) in [(0, "lrs"), (1, "wds")] {
                let sh = &s[self.n * k + j];
                if sh.iter().product::<usize>() != self.n {
                    return Err(Error::shape(
                        self.name,
                        format!("{key} must hold num_weights={} values, got shape {}", self.n, fmt_shape(sh)),
                    ));
                }
            }
        }
        Ok((0..self.n).map(|i| s[i * k].clone()).collect())
    }
    fn infer_dtype(&self, d: &[DType]) -> Result<Vec<DType>> {
        expect_count(self.name, d.len(), self.num_inputs(), &self.how())?;
        let k = self.stride();
        let mut out = Vec::with_capacity(self.n);
        for i in 0..self.n {
            let w = d[i * k];
            float_dtype(self.name, w, "weight")?;
            // Without mp the states share the weight's dtype; with mp they are float32.
            let plain = if self.mp { 2 } else { k };
            if let Some(&o) = d[i * k..i * k + plain].iter().find(|&&o| o != w) {
                return Err(Error::dtype(self.name, o, format!("weight {i} is {w} but its grad or mom is {o}")));
            }
            for &o in &d[i * k + plain..(i + 1) * k] {
                f32_dtype(self.name, o, "mom and weight32 of the mp updates")?;
            }
            out.push(w);
        }
        if self.preloaded {
            f32_dtype(self.name, d[self.n * k], "lrs")?;
            f32_dtype(self.name, d[self.n * k + 1], "wds")?;
        }
        Ok(out)
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        let k = self.stride();
        let mut v = Vec::new();
        for i in 0..self.n {
            if self.mom {
                v.push(i * k + 2);
            }
            if self.mp {
                v.push(i * k + k - 1);
            }
        }
        v
    }
    fn updates_in_place(&self) -> bool {
        !self.mp
    }
    fn forward_update(&self, ctx: &mut OpCtx<'_>, x: &mut [Slot<'_>]) -> Result<bool> {
        let k = self.stride();
        let (lrs, wds) = if self.preloaded {
            let f = |s: &Slot<'_>| match s {
                Slot::Read(t) if t.dtype() == DType::F32 => Some(load::<f32>(t).into_iter().map(f64::from).collect()),
                _ => None,
            };
            match (f(&x[self.n * k]), f(&x[self.n * k + 1])) {
                (Some(l), Some(w)) => (l, w),
                _ => return Ok(false),
            }
        } else {
            (self.lrs.clone(), self.wds.clone())
        };
        // Each group: the weight and its momentum written, the gradient read, one dtype.
        for group in x[..self.n * k].chunks(k) {
            let dt = match &group[0] {
                Slot::Write(w) if matches!(w.dtype(), DType::F32 | DType::F64) => w.dtype(),
                _ => return Ok(false),
            };
            let grad_ok = matches!(&group[1], Slot::Read(g) if g.dtype() == dt);
            let mom_ok = !self.mom || matches!(&group[2], Slot::Write(m) if m.dtype() == dt);
            if !grad_ok || !mom_ok {
                return Ok(false);
            }
        }
        let par = ctx.par;
        for (i, group) in x[..self.n * k].chunks_mut(k).enumerate() {
            let [Slot::Write(w), Slot::Read(g), rest @ ..] = group else { return Ok(false) };
            let mom = match rest.first_mut() {
                Some(Slot::Write(m)) => Some(&mut **m),
                _ => None,
            };
            if w.dtype() == DType::F64 {
                self.update_group::<f64>(par, w, g, mom, lrs[i], wds[i]);
            } else {
                self.update_group::<f32>(par, w, g, mom, lrs[i], wds[i]);
            }
        }
        Ok(true)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (lrs, wds) = self.rates(x);
        let par = ctx.par;
        let mut outs = Vec::with_capacity(self.n);
        let mut states = Vec::new();
        for i in 0..self.n {
            let (o, s) = if !self.mp && compute_is_f64(dt[i]) {
                self.group::<f64>(par, x, i, lrs[i], wds[i], dt[i])
            } else {
                self.group::<f32>(par, x, i, lrs[i], wds[i], dt[i])
            };
            outs.push(o);
            states.extend(s);
        }
        outs.extend(states);
        Ok(outs)
    }
}

fn parse(name: &'static str, mom: bool, mp: bool, preloaded: bool, a: &Attrs) -> Result<MultiSgd> {
    let mut known = vec!["rescale_grad", "clip_gradient", "num_weights", "num_args"];
    if !preloaded {
        known.extend(["lrs", "wds"]);
    }
    if mom {
        known.push("momentum");
    }
    a.check_known(name, &known)?;
    let (lrs, wds) =
        if preloaded { (vec![], vec![]) } else { (float_tuple(a, name, "lrs")?, float_tuple(a, name, "wds")?) };
    Ok(MultiSgd {
        name,
        mom,
        mp,
        preloaded,
        n: num_weights(a, name, "num_weights", 1)?,
        lrs,
        wds,
        momentum: if mom { f32_param(a, name, "momentum", Some(0.0))? } else { 0.0 },
        rescale: f32_param(a, name, "rescale_grad", Some(1.0))?,
        clip: f32_param(a, name, "clip_gradient", Some(-1.0))?,
    })
}

pub(super) fn register(r: &mut Registry) {
    let plain = params!(
        "lrs" = None,
        "wds" = None,
        "rescale_grad" = Some("1"),
        "clip_gradient" = Some("-1"),
        "num_weights" = Some("1")
    );
    let mom = params!(
        "lrs" = None,
        "wds" = None,
        "momentum" = Some("0"),
        "rescale_grad" = Some("1"),
        "clip_gradient" = Some("-1"),
        "num_weights" = Some("1")
    );
    let pre = params!("rescale_grad" = Some("1"), "clip_gradient" = Some("-1"), "num_weights" = Some("1"));
    let pre_mom = params!(
        "momentum" = Some("0"),
        "rescale_grad" = Some("1"),
        "clip_gradient" = Some("-1"),
        "num_weights" = Some("1")
    );
    type Spec = (&'static str, &'static [crate::op::ParamSpec], &'static str, bool, bool, bool);
    let specs: [Spec; 8] = [
        ("multi_sgd_update", plain, "SGD steps of several weights", false, false, false),
        ("multi_sgd_mom_update", mom, "SGD-with-momentum steps of several weights", true, false, false),
        ("multi_mp_sgd_update", plain, "SGD steps of several weights on float32 master copies", false, true, false),
        (
            "multi_mp_sgd_mom_update",
            mom,
            "SGD-with-momentum steps of several weights on float32 master copies",
            true,
            true,
            false,
        ),
        ("preloaded_multi_sgd_update", pre, "SGD steps of several weights, rates given as arrays", false, false, true),
        (
            "preloaded_multi_sgd_mom_update",
            pre_mom,
            "SGD-with-momentum steps of several weights, rates given as arrays",
            true,
            false,
            true,
        ),
        (
            "preloaded_multi_mp_sgd_update",
            pre,
            "SGD steps of several weights on float32 master copies, rates given as arrays",
            false,
            true,
            true,
        ),
        (
            "preloaded_multi_mp_sgd_mom_update",
            pre_mom,
            "SGD-with-momentum steps on float32 master copies, rates given as arrays",
            true,
            true,
            true,
        ),
    ];
    for (name, params, doc, mom, mp, preloaded) in specs {
        r.add(name, &["*data"], params, doc, move |a: &Attrs| Ok(Box::new(parse(name, mom, mp, preloaded, a)?)));
    }
}

#[cfg(test)]
mod tests {
    use crate::context::Context;
    use crate::invoke::invoke;
    use crate::ndarray::NDArray;
    use crate::op::Attrs;
    use crate::storage::CpuStorage;

    fn arr(n: usize, seed: usize, dtype: &str) -> NDArray {
        let v: Vec<f64> = (0..n).map(|i| (((i * 7 + seed * 13) % 23) as f64 - 11.0) / 7.0).collect();
        let s = if dtype == "float64" {
            CpuStorage::F64(v.into())
        } else {
            CpuStorage::F32(v.iter().map(|&x| x as f32).collect::<Vec<f32>>().into())
        };
        NDArray::from_cpu(s, &[n], Context::cpu(0)).unwrap()
    }

    fn address(a: &NDArray) -> usize {
        a.read_cpu(|s, _, _| match s {
            CpuStorage::F32(v) => v.as_ptr() as usize,
            CpuStorage::F64(v) => v.as_ptr() as usize,
            _ => unreachable!(),
        })
        .unwrap()
    }

    fn values(a: &NDArray) -> Vec<f64> {
        let s = a.to_cpu_storage().unwrap();
        (0..s.len()).map(|i| s.get_f64(i)).collect()
    }

    /// `multi_sgd_mom_update` with `out=` its weights updates the weights and momenta in their
    /// own buffers, with the same values as the run into fresh outputs. Sizes: one above the
    /// parallel split (uneven chunks) and a small one.
    #[test]
    fn momentum_step_in_place_keeps_buffers_and_values() {
        for dtype in ["float32", "float64"] {
            let sizes = [300_001, 17];
            let attrs = Attrs::from_pairs([
                ("num_weights", "2"),
                ("lrs", "(0.1, 0.05)"),
                ("wds", "(0.01, 0.0)"),
                ("momentum", "0.9"),
                ("rescale_grad", "0.5"),
                ("clip_gradient", "1.5"),
            ]);
            let group = |k: usize| -> Vec<NDArray> { (0..3).map(|j| arr(sizes[k], 3 * k + j, dtype)).collect() };
            let (a, b) = (group(0), group(1));
            let inputs: Vec<NDArray> = a.iter().chain(&b).cloned().collect();
            // Out of place: fresh outputs (the momenta are still updated in place by the op).
            let (a2, b2) = (group(0), group(1));
            let inputs2: Vec<NDArray> = a2.iter().chain(&b2).cloned().collect();
            let fresh = invoke("multi_sgd_mom_update", &attrs, &inputs2, None, None).unwrap();
            let before = [address(&a[0]), address(&a[2]), address(&b[0]), address(&b[2])];
            let outs = [a[0].clone(), b[0].clone()];
            invoke("multi_sgd_mom_update", &attrs, &inputs, Some(&outs), None).unwrap();
            let after = [address(&a[0]), address(&a[2]), address(&b[0]), address(&b[2])];
            assert_eq!(before, after, "{dtype}: the update replaced a buffer");
            assert_eq!(values(&a[0]), values(&fresh[0]), "{dtype}: weight 0");
            assert_eq!(values(&b[0]), values(&fresh[1]), "{dtype}: weight 1");
            assert_eq!(values(&a[2]), values(&a2[2]), "{dtype}: momentum 0");
            assert_eq!(values(&b[2]), values(&b2[2]), "{dtype}: momentum 1");
            assert_ne!(values(&a[0]), values(&arr(sizes[0], 0, dtype)), "{dtype}: the weight was not updated");
        }
    }
}
