//! MXNet's Symbol JSON: writing in MXNet's exact layout (so files compare byte for byte) and
//! reading current and legacy files, with clear errors for malformed graphs.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use mxrs_ndarray_core::{Attrs, Error, Result, registry};
use serde_json::Value;

use crate::graph::{Entry, Node, Symbol, input_names, make_instance};
use crate::infer::IndexedGraph;

/// The MXNet version mxrs writes into its JSON (1.9.1).
pub const MXNET_VERSION: i64 = 10901;

/// Most outputs a node loaded from JSON may have (SliceChannel's `num_outputs`, a backward
/// op's `num_args`...): far above any real graph, far below what would exhaust memory when a
/// name is made per output.
pub const MAX_NODE_OUTPUTS: usize = 1 << 16;

/// A JSON value with ordered keys, printed with MXNet's layout.
enum J {
    Str(String),
    Int(i64),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl J {
    fn write(&self, indent: usize, out: &mut String) {
        let pad = |n: usize, out: &mut String| out.extend(std::iter::repeat_n(' ', n));
        match self {
            J::Str(s) => quote(s, out),
            J::Int(i) => {
                let _ = write!(out, "{i}");
            }
            // MXNet's writer: arrays of objects always one element per line, other arrays
            // only when they have more than 10 elements.
            J::Arr(v) if v.len() <= 10 && !v.iter().any(|x| matches!(x, J::Obj(_))) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.write(indent, out);
                }
                out.push(']');
            }
            J::Arr(v) => {
                out.push_str("[\n");
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", \n");
                    }
                    pad(indent + 2, out);
                    x.write(indent + 2, out);
                }
                out.push('\n');
                pad(indent, out);
                out.push(']');
            }
            J::Obj(kv) if kv.len() <= 1 => {
                out.push('{');
                for (k, v) in kv {
                    quote(k, out);
                    out.push_str(": ");
                    v.write(indent, out);
                }
                out.push('}');
            }
            J::Obj(kv) => {
                out.push_str("{\n");
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", \n");
                    }
                    pad(indent + 2, out);
                    quote(k, out);
                    out.push_str(": ");
                    v.write(indent + 2, out);
                }
                out.push('\n');
                pad(indent, out);
                out.push('}');
            }
        }
    }
}

fn triple(a: usize, b: usize, c: usize) -> J {
    J::Arr(vec![J::Int(a as i64), J::Int(b as i64), J::Int(c as i64)])
}

/// `sym.tojson()`.
pub fn to_json(sym: &Symbol) -> String {
    let g = IndexedGraph::new(sym);
    let mut nodes = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let mut obj =
            vec![("op".to_string(), J::Str(n.op_name().to_string())), ("name".into(), J::Str(n.name.clone()))];
        if !n.attrs.0.is_empty() {
            obj.push(("attrs".into(), J::Obj(n.attrs.0.iter().map(|(k, v)| (k.clone(), J::Str(v.clone()))).collect())));
        }
        let mutated = n.instance.as_ref().map(|o| o.mutate_inputs()).unwrap_or_default();
        let inputs = g.inputs[i]
            .iter()
            .enumerate()
            .map(|(j, &(src, k))| triple(src, k, usize::from(mutated.contains(&j))))
            .collect();
        obj.push(("inputs".into(), J::Arr(inputs)));
        nodes.push(J::Obj(obj));
    }
    let arg_nodes = (0..g.nodes.len()).filter(|&i| g.nodes[i].is_variable()).map(|i| J::Int(i as i64)).collect();
    let top = J::Obj(vec![
        ("nodes".into(), J::Arr(nodes)),
        ("arg_nodes".into(), J::Arr(arg_nodes)),
        ("node_row_ptr".into(), J::Arr(g.row_ptr.iter().map(|&r| J::Int(r as i64)).collect())),
        ("heads".into(), J::Arr(g.heads.iter().map(|&(n, k)| triple(n, k, 0)).collect())),
        (
            "attrs".into(),
            J::Obj(vec![("mxnet_version".into(), J::Arr(vec![J::Str("int".into()), J::Int(MXNET_VERSION)]))]),
        ),
    ]);
    let mut out = String::new();
    top.write(0, &mut out);
    out
}

const HIDDEN_KEYS: &[&str] = &["ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage"];

/// Rename the keys MXNet always stores hidden (`lr_mult` -> `__lr_mult__`).
pub fn hide_keys(attrs: &mut Attrs) {
    for k in HIDDEN_KEYS {
        if let Some(v) = attrs.0.remove(*k) {
            attrs.0.entry(format!("__{k}__")).or_insert(v);
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::format("<symbol json>", msg)
}

fn entry_of(v: &Value, what: &str) -> Result<(usize, usize)> {
    let a = v.as_array().ok_or_else(|| bad(format!("{what}: an entry must be a list [node, index, version]")))?;
    if a.len() < 2 || a.len() > 3 {
        return Err(bad(format!("{what}: an entry must have 2 or 3 elements, got {}", a.len())));
    }
    let n = a[0].as_u64().ok_or_else(|| bad(format!("{what}: node id must be a non-negative integer")))?;
    let k = a[1].as_u64().ok_or_else(|| bad(format!("{what}: output index must be a non-negative integer")))?;
    Ok((n as usize, k as usize))
}

fn attrs_of(node: &serde_json::Map<String, Value>, what: &str) -> Result<Attrs> {
    let mut attrs = Attrs::default();
    for key in ["param", "attr", "attrs"] {
        if let Some(v) = node.get(key) {
            let m = v.as_object().ok_or_else(|| bad(format!("{what}: '{key}' must be an object")))?;
            for (k, v) in m {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                attrs.set(k, s);
            }
        }
    }
    hide_keys(&mut attrs);
    Ok(attrs)
}

/// `mx.sym.load_json`: parse MXNet's Symbol JSON (current or legacy layout).
pub fn from_json(text: &str) -> Result<Symbol> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let top = v.as_object().ok_or_else(|| bad("the top level must be an object"))?;
    let nodes_v = top.get("nodes").and_then(Value::as_array).ok_or_else(|| bad("missing 'nodes' list"))?;
    let legacy = top
        .get("attrs")
        .and_then(|a| a.get("mxnet_version"))
        .and_then(|m| m.as_array())
        .and_then(|m| m.get(1))
        .and_then(Value::as_i64)
        .is_none_or(|ver| ver < 900);
    let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(nodes_v.len());
    for (i, nv) in nodes_v.iter().enumerate() {
        let node = node_of(i, nv, &nodes, legacy)?;
        nodes.push(node);
    }
    let heads_v = top.get("heads").and_then(Value::as_array).ok_or_else(|| bad("missing 'heads' list"))?;
    let mut outputs = Vec::new();
    for h in heads_v {
        let (n, k) = entry_of(h, "heads")?;
        let node = nodes.get(n).ok_or_else(|| bad(format!("heads: node {n} does not exist")))?.clone();
        if k >= node.num_outputs() {
            return Err(bad(format!("heads: node {n} has {} output(s), not {}", node.num_outputs(), k + 1)));
        }
        outputs.push(Entry { node, index: k });
    }
    let sym = Symbol { outputs };
    let auto = auto_named(&nodes);
    if auto.is_empty() {
        return Ok(sym);
    }
    Ok(mark_auto(&sym, &auto))
}

/// Node `i` of the file, whose inputs are among the `earlier` nodes. In a `legacy` file (before
/// MXNet 0.9) missing trailing inputs become variables named `<node>_<input>`.
fn node_of(i: usize, nv: &Value, earlier: &[Arc<Node>], legacy: bool) -> Result<Arc<Node>> {
    let what = format!("node {i}");
    let obj = nv.as_object().ok_or_else(|| bad(format!("{what}: must be an object")))?;
    let op = obj.get("op").and_then(Value::as_str).ok_or_else(|| bad(format!("{what}: missing 'op'")))?;
    let name = obj.get("name").and_then(Value::as_str).ok_or_else(|| bad(format!("{what}: missing 'name'")))?;
    let what = format!("node {i} ({name})");
    let attrs = attrs_of(obj, &what)?;
    let mut inputs = Vec::new();
    if let Some(iv) = obj.get("inputs") {
        let list = iv.as_array().ok_or_else(|| bad(format!("{what}: 'inputs' must be a list")))?;
        for e in list {
            let (src, k) = entry_of(e, &what)?;
            if src >= i {
                return Err(bad(format!(
                    "{what}: input refers to node {src}, which does not come before it (the graph is cyclic or not in topological order)"
                )));
            }
            let node = earlier[src].clone();
            if k >= node.num_outputs() {
                return Err(bad(format!("{what}: node {src} has {} output(s), not {}", node.num_outputs(), k + 1)));
            }
            inputs.push(Entry { node, index: k });
        }
    }
    if op == "null" {
        if !inputs.is_empty() {
            return Err(bad(format!("{what}: a variable cannot have inputs")));
        }
        return Ok(Arc::new(Node { op: None, instance: None, name: name.into(), attrs, inputs, auto: false }));
    }
    let def = registry().get(op).map_err(|_| bad(format!("{what}: operator '{op}' is not registered")))?.clone();
    let inst = make_instance(&def, name, &attrs)?;
    // Code after loading makes a name per output (list_outputs, get_internals) and sums output
    // counts (the node_row_ptr), so a forged count (num_args=-1, num_outputs=1e12) must stop here.
    if inst.num_outputs() > MAX_NODE_OUTPUTS {
        return Err(bad(format!(
            "{what}: operator {op} would have {} outputs, more than the {MAX_NODE_OUTPUTS} a loaded node may have \
             (check its parameters)",
            inst.num_outputs()
        )));
    }
    let names = input_names(&def, &*inst, inputs.len());
    let variadic = def.inputs.len() == 1 && def.inputs[0].starts_with('*') && inst.input_names().is_none();
    if !variadic && inputs.len() != names.len() {
        if legacy && inputs.len() < names.len() {
            for n in &names[inputs.len()..] {
                let var = Node::variable(format!("{name}_{n}"), attrs.clone());
                inputs.push(Entry { node: var, index: 0 });
            }
        } else {
            return Err(bad(format!(
                "{what}: operator {op} takes {} input(s) ({}), the file gives {}",
                names.len(),
                names.join(", "),
                inputs.len()
            )));
        }
    }
    Ok(Arc::new(Node { op: Some(def), instance: Some(inst), name: name.into(), attrs, inputs, auto: false }))
}

/// The variables named `<node>_<input>` after the op input they feed, as automatically created
/// arguments are: marked so that composition with a name renames them as for symbols built in
/// this process.
fn auto_named(nodes: &[Arc<Node>]) -> HashMap<usize, String> {
    let mut by_ptr: HashMap<usize, String> = HashMap::new();
    for n in nodes {
        if let Some(inst) = &n.instance {
            let names = input_names(n.op.as_ref().unwrap(), &**inst, n.inputs.len());
            for (e, inp) in n.inputs.iter().zip(names) {
                if e.node.is_variable() && e.node.name == format!("{}_{inp}", n.name) {
                    by_ptr.insert(e.key(), e.node.name.clone());
                }
            }
        }
    }
    by_ptr
}

/// A copy of `sym` whose variables in `auto` are flagged as automatically made.
fn mark_auto(sym: &Symbol, auto: &HashMap<usize, String>) -> Symbol {
    let mut memo: HashMap<usize, Arc<Node>> = HashMap::new();
    for n in sym.topo_nodes() {
        let key = Arc::as_ptr(&n) as usize;
        let inputs = n.inputs.iter().map(|e| Entry { node: memo[&e.key()].clone(), index: e.index }).collect();
        let node = Node {
            op: n.op.clone(),
            instance: n.instance.clone(),
            name: n.name.clone(),
            attrs: n.attrs.clone(),
            inputs,
            auto: n.auto || auto.contains_key(&key),
        };
        memo.insert(key, Arc::new(node));
    }
    Symbol { outputs: sym.outputs.iter().map(|e| Entry { node: memo[&e.key()].clone(), index: e.index }).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer (crates/fuzz, target symbol_json): a backward op with `num_args=-1`
    /// once declared usize::MAX outputs, which overflowed the node_row_ptr sum in `tojson` and made
    /// `list_outputs` try to name every output.
    #[test]
    fn forged_output_counts_are_errors() {
        for (op, attrs) in [
            ("_backward_Concat", r#"{"num_args": "-1", "dim": "1"}"#),
            ("SliceChannel", r#"{"num_outputs": "1000000000000"}"#),
        ] {
            let json = format!(
                r#"{{"nodes": [{{"op": "null", "name": "x", "inputs": []}},
                    {{"op": "{op}", "name": "n", "attrs": {attrs}, "inputs": [[0, 0, 0]]}}],
                   "heads": [[1, 0, 0]], "attrs": {{"mxnet_version": ["int", 10901]}}}}"#
            );
            let err = from_json(&json).err().map(|e| e.to_string()).unwrap_or_default();
            // The op's own parameter check (a count from 1 to 65536) refuses these now; the
            // loader's cap on outputs stays as the second line of defence.
            assert!(err.contains("expected a count from 1 to 65536"), "{op}: {err}");
        }
        // A legitimately large split still loads.
        let json = r#"{"nodes": [{"op": "null", "name": "x", "inputs": []},
            {"op": "SliceChannel", "name": "s", "attrs": {"num_outputs": "1000"}, "inputs": [[0, 0, 0]]}],
            "heads": [[1, 999, 0]], "attrs": {"mxnet_version": ["int", 10901]}}"#;
        let sym = from_json(json).unwrap();
        assert_eq!(sym.list_outputs(), vec!["s_output999".to_string()]);
    }
}
