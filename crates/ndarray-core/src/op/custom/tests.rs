//! `Custom` with a prop written in Rust: the registry, inference, forward and backward without
//! Python.

use super::*;
use crate::context::Context;
use crate::invoke::invoke;
use crate::ndarray::NDArray;

/// `y = scale * x`, whose backward is `scale * dy`; its label-like second argument `n` gets
/// the shape `(x.shape[0],)` from inference.
#[derive(Debug)]
struct Scale {
    scale: f64,
    names: [Vec<String>; 3],
}

fn host(v: &HostArray) -> Vec<f64> {
    (0..v.0.len()).map(|i| v.0.get_f64(i)).collect()
}

fn storage(v: &[f64]) -> CpuStorage {
    CpuStorage::F32(v.iter().map(|&x| x as f32).collect())
}

impl CustomProp for Scale {
    fn op_type(&self) -> &str {
        "rust_scale"
    }
    fn arguments(&self) -> &[String] {
        &self.names[0]
    }
    fn outputs(&self) -> &[String] {
        &self.names[1]
    }
    fn aux_states(&self) -> &[String] {
        &self.names[2]
    }
    fn need_top_grad(&self) -> bool {
        true
    }
    fn infer_shape(&self, args: &[Option<Shape>]) -> Result<Option<Inferred<Shape>>> {
        let Some(x) = args[0].clone() else { return Ok(None) };
        Ok(Some((vec![x.clone(), vec![x[0]]], vec![x], vec![])))
    }
    fn infer_type(&self, args: &[Option<DType>]) -> Result<Inferred<Option<DType>>> {
        Ok((vec![args[0], args[0]], vec![args[0]], vec![]))
    }
    fn forward(&self, call: ForwardCall<'_>) -> Result<ForwardResult> {
        let y: Vec<f64> = host(&call.in_data[0]).iter().map(|x| x * self.scale).collect();
        Ok((vec![storage(&y)], vec![]))
    }
    fn backward(&self, call: BackwardCall) -> Result<Vec<CpuStorage>> {
        let g: Vec<f64> = host(&call.out_grad[0]).iter().map(|x| x * self.scale).collect();
        Ok(vec![storage(&g), CpuStorage::zeros(DType::F32, call.in_data[1].0.len())])
    }
}

struct Backend;

impl CustomBackend for Backend {
    fn create(&self, op_type: &str, kwargs: &[(String, String)]) -> Result<Arc<dyn CustomProp>> {
        if op_type != "rust_scale" {
            return Err(Error::param("Custom", format!("op_type {op_type} is not registered")));
        }
        let scale = kwargs.iter().find(|(k, _)| k == "scale").map_or(Ok(1.0), |(_, v)| v.parse::<f64>());
        let names = [vec!["data".into(), "n".into()], vec!["output".into()], vec![]];
        Ok(Arc::new(Scale { scale: scale.map_err(|e| Error::param("Custom", e.to_string()))?, names }))
    }
}

fn arr(v: &[f64]) -> NDArray {
    NDArray::from_cpu(storage(v), &[v.len()], Context::cpu(0)).unwrap()
}

fn values(a: &NDArray) -> Vec<f64> {
    let s = a.to_cpu_storage().unwrap();
    (0..s.len()).map(|i| s.get_f64(i)).collect()
}

#[test]
fn custom_runs_a_prop_forward_and_backward() {
    set_backend(Arc::new(Backend));
    let attrs = Attrs::from_pairs([("op_type", "rust_scale"), ("scale", "3")]);
    let def = crate::op::registry().get("Custom").unwrap();
    let op = (def.create)(&attrs).unwrap();
    assert_eq!(op.input_names().unwrap(), ["data", "n"]);
    assert_eq!(op.output_names(), ["output"]);
    // Partial inference fills the second argument from the first, and the output.
    let mut ins = vec![Some(vec![3]), None];
    let mut outs = vec![None];
    op.infer_shape_partial(&mut ins, &mut outs).unwrap();
    assert_eq!((ins, outs), (vec![Some(vec![3]), Some(vec![3])], vec![Some(vec![3])]));
    let y = invoke("Custom", &attrs, &[arr(&[1.0, 2.0, -1.0]), arr(&[0.0; 3])], None, None).unwrap();
    assert_eq!(values(&y[0]), [3.0, 6.0, -3.0]);
    // The backward op finds the same prop through the attribute the forward op gives it.
    let mut battrs = attrs.clone();
    for (k, v) in op.gradient_attrs() {
        battrs.set(&k, v);
    }
    let ins = [arr(&[1.0, 1.0, 2.0]), arr(&[1.0, 2.0, -1.0]), arr(&[0.0; 3]), y[0].clone()];
    let g = invoke("_backward_Custom", &battrs, &ins, None, None).unwrap();
    assert_eq!(values(&g[0]), [3.0, 3.0, 6.0]);
    assert_eq!(values(&g[1]), [0.0; 3]);
}

#[test]
fn custom_errors_name_the_problem() {
    set_backend(Arc::new(Backend));
    let def = crate::op::registry().get("Custom").unwrap();
    let e = (def.create)(&Attrs::default()).unwrap_err().to_string();
    assert!(e.contains("op_type"), "{e}");
    let e = (def.create)(&Attrs::from_pairs([("op_type", "nope")])).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
}
