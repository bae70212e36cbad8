//! Bind's stages on a symbol without arrays (inference, the forward schedule, the backward
//! graph): what the tests of the gradient graph and of the memory plan start from.

use std::collections::HashSet;

use mxrs_ndarray_core::Result;
use mxrs_ndarray_core::dtype::DType;
use mxrs_ndarray_core::shape::Shape;

use super::gradient::{self, Backward, GradArray};
use super::schedule;
use super::types::{GradReq, Step};
use crate::graph::Symbol;
use crate::infer::{IndexedGraph, infer_shapes};

/// A symbol's schedules and value table as `bind` builds them, and its fixed values.
pub(crate) struct Program {
    /// The flattened graph.
    pub g: IndexedGraph,
    /// The forward schedule.
    pub fwd: Vec<Step>,
    /// The backward graph.
    pub back: Backward,
    /// Shape of each value.
    pub shapes: Vec<Shape>,
    /// Dtype of each value.
    pub dtypes: Vec<DType>,
    /// The values that keep arrays of their own.
    pub fixed: HashSet<usize>,
}

impl Program {
    /// Float32 values, shapes inferred from `known`, `req` and a gradient array for every
    /// argument.
    pub(crate) fn try_build(sym: &Symbol, known: &[(&str, Vec<usize>)], req: GradReq) -> Result<Program> {
        let g = IndexedGraph::new(sym);
        let known: Vec<(String, Shape)> = known.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
        let mut shapes: Vec<Shape> =
            infer_shapes(&g, &known)?.into_iter().map(|s| s.expect("every shape known")).collect();
        let mut dtypes = vec![DType::F32; shapes.len()];
        let reqs = vec![req; g.args.len()];
        let arrays: Vec<Option<GradArray>> = (g.args.iter())
            .map(|&n| Some(GradArray { req, shape: shapes[g.entry(n, 0)].clone(), dtype: DType::F32 }))
            .collect();
        let fwd = schedule::forward(&g);
        let back = gradient::build(&g, &reqs, &arrays, &mut shapes, &mut dtypes)?;
        let mut fixed: HashSet<usize> = g.args.iter().chain(&g.aux).map(|&n| g.entry(n, 0)).collect();
        fixed.extend(g.heads.iter().map(|&(n, k)| g.entry(n, k)));
        fixed.extend(back.head_grads.iter().copied());
        fixed.extend(back.arg_grads.iter().map(|&(_, v)| v));
        Ok(Program { g, fwd, back, shapes, dtypes, fixed })
    }

    /// [`Program::try_build`], panicking on errors.
    pub(crate) fn build(sym: &Symbol, known: &[(&str, Vec<usize>)], req: GradReq) -> Program {
        Program::try_build(sym, known, req).unwrap()
    }
}
