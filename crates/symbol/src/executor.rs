//! The executor: a bound graph with its forward and backward schedules and a memory plan.
//!
//! Binding builds the backward graph from each op's registered gradient (a list of steps made
//! of registered ops), then plans memory over the whole schedule (forward, then backward):
//! every intermediate value gets a slot, and a slot whose value has been read for the last time
//! is given to the next value of the same size and dtype — in place when an op's input dies at
//! that op. Arguments, aux states, outputs, head gradients and argument gradients have their
//! own arrays. Forward and backward push every step onto the engine and return at once.

use std::collections::HashMap;
use std::sync::Arc;

use mxrs_ndarray_core::dtype::DType;
use mxrs_ndarray_core::invoke::invoke_op_full;
use mxrs_ndarray_core::op::{Attrs, GradBuilder, NodeEntry, Operator};
use mxrs_ndarray_core::shape::{Shape, fmt_shape};
use mxrs_ndarray_core::{Context, Error, NDArray, Result, registry};

use crate::graph::{Symbol, op_params};
use crate::infer::{IndexedGraph, infer_dtypes, infer_shapes};

/// How an argument's gradient is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradReq {
    /// No gradient.
    Null,
    /// Overwrite the gradient array.
    Write,
    /// Add to the gradient array.
    Add,
}

impl GradReq {
    /// Parse `'null' | 'write' | 'add'` (`'inplace'` counts as write).
    pub fn parse(s: &str) -> Result<GradReq> {
        match s {
            "null" => Ok(GradReq::Null),
            "write" | "inplace" => Ok(GradReq::Write),
            "add" => Ok(GradReq::Add),
            other => Err(Error::param("bind", format!("grad_req must be 'null', 'write' or 'add', got '{other}'"))),
        }
    }
}

/// One op application of a schedule, over value ids.
struct Step {
    op: Arc<dyn Operator>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?}) -> {:?}", self.op.name(), self.inputs, self.outputs)
    }
}

/// Builds backward steps while the gradient functions run.
struct Builder<'a> {
    steps: &'a mut Vec<Step>,
    shapes: &'a mut Vec<Shape>,
    dtypes: &'a mut Vec<DType>,
}

impl Builder<'_> {
    fn new_value(&mut self, s: Shape, d: DType) -> usize {
        self.shapes.push(s);
        self.dtypes.push(d);
        self.shapes.len() - 1
    }
    fn add(&mut self, op: Arc<dyn Operator>, inputs: Vec<usize>) -> Result<Vec<usize>> {
        let in_shapes: Vec<Shape> = inputs.iter().map(|&v| self.shapes[v].clone()).collect();
        let in_dtypes: Vec<DType> = inputs.iter().map(|&v| self.dtypes[v]).collect();
        let shapes = op.infer_shape(&in_shapes)?;
        let dtypes = op.infer_dtype(&in_dtypes)?;
        let outputs: Vec<usize> = shapes.into_iter().zip(dtypes).map(|(s, d)| self.new_value(s, d)).collect();
        self.steps.push(Step { op, inputs, outputs: outputs.clone() });
        Ok(outputs)
    }
}

impl GradBuilder for Builder<'_> {
    fn op(&mut self, name: &str, inputs: &[NodeEntry], attrs: Attrs) -> Result<Vec<NodeEntry>> {
        let def = registry().get(name)?;
        let op: Arc<dyn Operator> = Arc::from((def.create)(&attrs)?);
        Ok(self.add(op, inputs.iter().map(|e| e.0).collect())?.into_iter().map(NodeEntry).collect())
    }
}

/// What a caller gives to [`Executor::bind`].
#[derive(Debug, Default)]
pub struct BindArgs {
    /// One array per argument, in `list_arguments` order.
    pub args: Vec<NDArray>,
    /// One optional gradient array per argument.
    pub grads: Vec<Option<NDArray>>,
    /// One request per argument.
    pub reqs: Vec<GradReq>,
    /// One array per aux state.
    pub aux: Vec<NDArray>,
}

/// A bound symbol.
#[derive(Debug)]
pub struct Executor {
    ctx: Context,
    fwd: Vec<Step>,
    bwd: Vec<Step>,
    arrays: Vec<NDArray>,
    outputs: Vec<NDArray>,
    head_grads: Vec<NDArray>,
    arg_names: Vec<String>,
    has_backward: bool,
    num_slots: usize,
    /// The mode of the last forward: backward kernels such as BatchNorm's depend on it.
    last_train: std::sync::atomic::AtomicBool,
}

impl Executor {
    /// Bind `sym` on `ctx` to the given arrays. Shapes and dtypes are checked against
    /// inference from the argument arrays; the backward graph is built for arguments whose
    /// request is not `Null`.
    pub fn bind(sym: &Symbol, ctx: Context, b: BindArgs) -> Result<Executor> {
        let g = IndexedGraph::new(sym);
        let arg_names: Vec<String> = g.args.iter().map(|&i| g.nodes[i].name.clone()).collect();
        let aux_names: Vec<String> = g.aux.iter().map(|&i| g.nodes[i].name.clone()).collect();
        check_count("arguments", &arg_names, b.args.len())?;
        check_count("auxiliary states", &aux_names, b.aux.len())?;
        if b.grads.len() != b.args.len() || b.reqs.len() != b.args.len() {
            return Err(Error::param("bind", "one gradient array and one grad_req per argument are needed"));
        }
        let mut seen = HashMap::new();
        for n in arg_names.iter().chain(&aux_names) {
            if seen.insert(n.as_str(), ()).is_some() {
                return Err(Error::param("bind", format!("two different inputs are both named '{n}'")));
            }
        }
        let known: Vec<(String, Shape)> = arg_names
            .iter()
            .zip(&b.args)
            .chain(aux_names.iter().zip(&b.aux))
            .map(|(n, a)| (n.clone(), a.shape().to_vec()))
            .collect();
        let shapes = infer_shapes(&g, &known)?;
        let known_t: Vec<(String, DType)> = arg_names
            .iter()
            .zip(&b.args)
            .chain(aux_names.iter().zip(&b.aux))
            .map(|(n, a)| (n.clone(), a.dtype()))
            .collect();
        let dtypes = infer_dtypes(&g, &known_t)?;
        let mut vshapes: Vec<Shape> = Vec::with_capacity(shapes.len());
        for (i, s) in shapes.iter().enumerate() {
            let node = g.row_ptr.partition_point(|&r| r <= i) - 1;
            match s {
                Some(s) => vshapes.push(s.clone()),
                None => {
                    return Err(Error::shape(
                        "bind",
                        format!(
                            "cannot infer the shape of output {} of node {}",
                            i - g.row_ptr[node],
                            g.nodes[node].name
                        ),
                    ));
                }
            }
        }
        let mut vdtypes: Vec<DType> = dtypes.iter().map(|d| d.unwrap_or(DType::F32)).collect();
        for (k, a) in b.grads.iter().enumerate() {
            if let Some(a) = a {
                let want = &vshapes[g.entry(g.args[k], 0)];
                if a.shape() != want.as_slice() {
                    return Err(Error::shape(
                        "bind",
                        format!(
                            "gradient array of '{}' has shape {} but the argument has shape {}",
                            arg_names[k],
                            fmt_shape(a.shape()),
                            fmt_shape(want)
                        ),
                    ));
                }
            }
        }

        // Forward schedule over entry ids.
        let mut fwd = Vec::new();
        for (i, n) in g.nodes.iter().enumerate() {
            if n.is_variable() {
                continue;
            }
            let inputs = g.inputs[i].iter().map(|&(s, k)| g.entry(s, k)).collect();
            let outputs = (0..n.num_outputs()).map(|k| g.entry(i, k)).collect();
            fwd.push(Step { op: n.operator().clone(), inputs, outputs });
        }

        // Backward graph.
        let reqs: HashMap<usize, GradReq> = g.args.iter().copied().zip(b.reqs.iter().copied()).collect();
        let mut needs = vec![false; g.nodes.len()];
        for (i, n) in g.nodes.iter().enumerate() {
            needs[i] = if n.is_variable() {
                reqs.get(&i).is_some_and(|r| *r != GradReq::Null)
            } else {
                g.inputs[i].iter().any(|&(s, _)| needs[s])
            };
        }
        let has_backward = g.heads.iter().any(|&(n, _)| needs[n]);
        let mut bwd: Vec<Step> = Vec::new();
        let mut fixed: HashMap<usize, NDArray> = HashMap::new();
        let mut head_grad_ids = Vec::new();
        {
            let mut bld = Builder { steps: &mut bwd, shapes: &mut vshapes, dtypes: &mut vdtypes };
            let mut contrib: HashMap<usize, Vec<usize>> = HashMap::new();
            if has_backward {
                for &(n, k) in &g.heads {
                    let e = g.entry(n, k);
                    let v = bld.new_value(bld.shapes[e].clone(), bld.dtypes[e]);
                    head_grad_ids.push(v);
                    contrib.entry(e).or_default().push(v);
                }
                for i in (0..g.nodes.len()).rev() {
                    let node = &g.nodes[i];
                    if node.is_variable() || !needs[i] {
                        continue;
                    }
                    let visible = node.num_visible_outputs();
                    if (0..visible).all(|k| !contrib.contains_key(&g.entry(i, k))) {
                        continue;
                    }
                    let def = node.op.as_ref().expect("op node");
                    let grad_fn = def.gradient.ok_or_else(|| {
                        Error::NotSupported(format!(
                            "operator {} ({}) has no gradient; use BlockGrad or grad_req='null' for what feeds it",
                            def.name, node.name
                        ))
                    })?;
                    let mut ogs = Vec::with_capacity(visible);
                    for k in 0..visible {
                        let e = g.entry(i, k);
                        let v = match contrib.remove(&e) {
                            Some(vs) => sum_values(&mut bld, vs)?,
                            None => bld.add(make_op("zeros_like", &Attrs::default())?, vec![e])?[0],
                        };
                        ogs.push(NodeEntry(v));
                    }
                    let ins: Vec<NodeEntry> = g.inputs[i].iter().map(|&(s, k)| NodeEntry(g.entry(s, k))).collect();
                    let outs: Vec<NodeEntry> = (0..node.num_outputs()).map(|k| NodeEntry(g.entry(i, k))).collect();
                    let grads = grad_fn(&mut bld, &op_params(&node.attrs), &ins, &outs, &ogs).map_err(|e| {
                        Error::msg(format!("building the gradient of {} ({}): {e}", def.name, node.name))
                    })?;
                    if grads.len() != ins.len() {
                        return Err(Error::msg(format!(
                            "internal: the gradient of {} returned {} values for {} inputs",
                            def.name,
                            grads.len(),
                            ins.len()
                        )));
                    }
                    for (j, gv) in grads.into_iter().enumerate() {
                        let (s, _) = g.inputs[i][j];
                        if let Some(v) = gv
                            && needs[s]
                        {
                            let gv_shape = &bld.shapes[v.0];
                            let in_shape = &bld.shapes[ins[j].0];
                            if gv_shape != in_shape {
                                return Err(Error::msg(format!(
                                    "internal: the gradient of {} ({}) for input {j} has shape {}, the input {}",
                                    def.name,
                                    node.name,
                                    fmt_shape(gv_shape),
                                    fmt_shape(in_shape)
                                )));
                            }
                            contrib.entry(ins[j].0).or_default().push(v.0);
                        }
                    }
                }
            }
            // Gradients of the arguments.
            let mut renamed: HashMap<usize, usize> = HashMap::new();
            for (k, &node) in g.args.iter().enumerate() {
                let req = b.reqs[k];
                let Some(arr) = &b.grads[k] else { continue };
                if req == GradReq::Null {
                    continue;
                }
                let e = g.entry(node, 0);
                let Some(vs) = contrib.remove(&e) else { continue };
                let vs = vs.into_iter().map(|v| *renamed.get(&v).unwrap_or(&v)).collect();
                let v = sum_values(&mut bld, vs)?;
                let target = bld.new_value(arr.shape().to_vec(), arr.dtype());
                fixed.insert(target, arr.clone());
                let produced_by_step = v >= g.num_entries() && !head_grad_ids.contains(&v) && !fixed.contains_key(&v);
                if req == GradReq::Write && produced_by_step {
                    renamed.insert(v, target);
                    // The last step writes straight into the gradient array.
                    for st in bld.steps.iter_mut() {
                        for o in st.outputs.iter_mut().chain(st.inputs.iter_mut()) {
                            if *o == v {
                                *o = target;
                            }
                        }
                    }
                    continue;
                }
                if req == GradReq::Write {
                    let op = make_op("_copy", &Attrs::default())?;
                    bld.steps.push(Step { op, inputs: vec![v], outputs: vec![target] });
                } else {
                    let op = make_op("elemwise_add", &Attrs::default())?;
                    bld.steps.push(Step { op, inputs: vec![target, v], outputs: vec![target] });
                }
            }
        }

        // Skip backward work nobody reads: at this point `fixed` holds the gradient arrays.
        prune_unread(&mut bwd, |v| fixed.contains_key(&v));

        // Fixed arrays: variables, outputs, head gradients.
        for (k, &n) in g.args.iter().enumerate() {
            check_array(&arg_names[k], &b.args[k], &vshapes[g.entry(n, 0)], ctx)?;
            fixed.insert(g.entry(n, 0), b.args[k].clone());
        }
        for (k, &n) in g.aux.iter().enumerate() {
            check_array(&aux_names[k], &b.aux[k], &vshapes[g.entry(n, 0)], ctx)?;
            fixed.insert(g.entry(n, 0), b.aux[k].clone());
        }
        let mut outputs = Vec::new();
        for &(n, k) in &g.heads {
            let e = g.entry(n, k);
            let arr = match fixed.get(&e) {
                Some(a) => a.clone(),
                None => {
                    let a = NDArray::zeros(&vshapes[e], vdtypes[e], ctx)?;
                    fixed.insert(e, a.clone());
                    a
                }
            };
            outputs.push(arr);
        }
        let mut head_grads = Vec::new();
        for &v in &head_grad_ids {
            let a = full(&vshapes[v], vdtypes[v], ctx, 1.0)?;
            fixed.insert(v, a.clone());
            head_grads.push(a);
        }

        // Memory plan over forward then backward.
        let schedule: Vec<&Step> = fwd.iter().chain(if has_backward { bwd.iter() } else { [].iter() }).collect();
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (s, st) in schedule.iter().enumerate() {
            for &v in &st.inputs {
                last_use.insert(v, s);
            }
        }
        let mut arrays: Vec<Option<NDArray>> = vec![None; vshapes.len()];
        for (v, a) in &fixed {
            arrays[*v] = Some(a.clone());
        }
        let mut free: HashMap<(usize, DType), Vec<NDArray>> = HashMap::new();
        let mut num_slots = 0;
        let mut released = std::collections::HashSet::new();
        for (s, st) in schedule.iter().enumerate() {
            for &v in &st.inputs {
                if last_use.get(&v) == Some(&s)
                    && !fixed.contains_key(&v)
                    && released.insert(v)
                    && let Some(a) = &arrays[v]
                {
                    free.entry((a.size(), a.dtype())).or_default().push(slot_of(a)?);
                }
            }
            let mut dead = Vec::new();
            for &v in &st.outputs {
                if arrays[v].is_some() {
                    continue;
                }
                let key = (vshapes[v].iter().product::<usize>(), vdtypes[v]);
                let slot = match free.get_mut(&key).and_then(Vec::pop) {
                    Some(a) => a,
                    None => {
                        num_slots += 1;
                        NDArray::zeros(&[key.0], key.1, ctx)?
                    }
                };
                arrays[v] = Some(slot.reshape_view(&vshapes[v])?);
                if !last_use.contains_key(&v) {
                    dead.push(v);
                }
            }
            for v in dead {
                if !fixed.contains_key(&v) {
                    let a = arrays[v].as_ref().expect("assigned");
                    free.entry((a.size(), a.dtype())).or_default().push(slot_of(a)?);
                }
            }
        }
        // Values no step produces (should not happen) get their own arrays.
        let arrays = arrays
            .into_iter()
            .enumerate()
            .map(|(v, a)| match a {
                Some(a) => Ok(a),
                None => NDArray::zeros(&vshapes[v], vdtypes[v], ctx),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Executor {
            ctx,
            fwd,
            bwd,
            arrays,
            outputs,
            head_grads,
            arg_names,
            has_backward,
            num_slots,
            last_train: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Run the forward schedule (asynchronously).
    pub fn forward(&self, is_train: bool) -> Result<()> {
        self.last_train.store(is_train, std::sync::atomic::Ordering::Relaxed);
        self.run(&self.fwd, is_train)
    }

    /// Run the backward schedule with the current head gradients (ones unless set), in the
    /// mode of the last forward.
    pub fn backward(&self) -> Result<()> {
        if !self.has_backward {
            return Ok(());
        }
        self.run(&self.bwd, self.last_train.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn run(&self, steps: &[Step], is_train: bool) -> Result<()> {
        for st in steps {
            let ins: Vec<NDArray> = st.inputs.iter().map(|&v| self.arrays[v].clone()).collect();
            let outs: Vec<NDArray> = st.outputs.iter().map(|&v| self.arrays[v].clone()).collect();
            invoke_op_full(st.op.clone(), &ins, Some(&outs), Some(self.ctx), is_train)?;
        }
        Ok(())
    }

    /// The output arrays (the same arrays after every forward).
    pub fn outputs(&self) -> &[NDArray] {
        &self.outputs
    }
    /// The head-gradient arrays `backward` reads (filled with ones at bind).
    pub fn head_grads(&self) -> &[NDArray] {
        &self.head_grads
    }
    /// Argument names in binding order.
    pub fn arg_names(&self) -> &[String] {
        &self.arg_names
    }
    /// Number of forward and backward steps.
    pub fn num_steps(&self) -> (usize, usize) {
        (self.fwd.len(), self.bwd.len())
    }
    /// Number of intermediate buffers the memory plan uses.
    pub fn num_buffers(&self) -> usize {
        self.num_slots
    }
    /// A readable listing of the schedules (for debugging and `debug_str`).
    pub fn debug_plan(&self) -> String {
        let mut s = String::new();
        for (name, steps) in [("forward", &self.fwd), ("backward", &self.bwd)] {
            s.push_str(name);
            s.push_str(":\n");
            for st in steps.iter() {
                s.push_str(&format!("  {st:?}\n"));
            }
        }
        s
    }
}

/// Drop the steps none of whose outputs is read (by a later step) or is a root, and let a step
/// with some unread outputs compute only the others when its op can
/// ([`Operator::keep_outputs`]: a fused backward op then skips, say, the data gradient of a
/// network's first layer).
fn prune_unread(steps: &mut Vec<Step>, is_root: impl Fn(usize) -> bool) {
    let mut read = std::collections::HashSet::new();
    let mut kept = Vec::with_capacity(steps.len());
    for mut st in steps.drain(..).rev() {
        let flags: Vec<bool> = st.outputs.iter().map(|&v| read.contains(&v) || is_root(v)).collect();
        let mutates = !st.op.mutate_inputs().is_empty();
        if !mutates && !flags.iter().any(|&f| f) {
            continue;
        }
        if !mutates
            && flags.iter().any(|&f| !f)
            && let Some(op) = st.op.keep_outputs(&flags)
        {
            st.op = Arc::from(op);
            st.outputs = st.outputs.iter().zip(&flags).filter(|(_, f)| **f).map(|(&v, _)| v).collect();
        }
        read.extend(st.inputs.iter().copied());
        kept.push(st);
    }
    kept.reverse();
    *steps = kept;
}

fn slot_of(a: &NDArray) -> Result<NDArray> {
    a.reshape_view(&[a.size()])
}

fn full(shape: &[usize], dtype: DType, ctx: Context, v: f64) -> Result<NDArray> {
    let n = shape.iter().product();
    NDArray::from_cpu(mxrs_ndarray_core::CpuStorage::full(dtype, n, v), shape, ctx)
}

fn make_op(name: &str, attrs: &Attrs) -> Result<Arc<dyn Operator>> {
    let def = registry().get(name)?;
    Ok(Arc::from((def.create)(attrs)?))
}

fn sum_values(b: &mut Builder<'_>, vs: Vec<usize>) -> Result<usize> {
    match vs.len() {
        0 => Err(Error::msg("internal: empty gradient sum")),
        1 => Ok(vs[0]),
        2 => Ok(b.add(make_op("elemwise_add", &Attrs::default())?, vs)?[0]),
        n => {
            let attrs = Attrs::from_pairs([("num_args", n.to_string())]);
            Ok(b.add(make_op("add_n", &attrs)?, vs)?[0])
        }
    }
}

fn check_count(what: &str, names: &[String], got: usize) -> Result<()> {
    if names.len() != got {
        return Err(Error::param("bind", format!("expects {} {what} ({}), got {got}", names.len(), names.join(", "))));
    }
    Ok(())
}

fn check_array(name: &str, a: &NDArray, want: &[usize], ctx: Context) -> Result<()> {
    if a.shape() != want {
        return Err(Error::shape(
            "bind",
            format!("array for '{name}' has shape {} but the graph needs {}", fmt_shape(a.shape()), fmt_shape(want)),
        ));
    }
    if a.ctx() != ctx && !(a.ctx().is_host() && ctx.is_host()) {
        return Err(Error::Context(format!("bind: array for '{name}' is on {} but the executor on {ctx}", a.ctx())));
    }
    Ok(())
}
