//! Structure-aware mutations of Symbol JSON: the input is parsed, one value of the tree is
//! changed, and the tree is printed again, so that most mutants are valid JSON that reaches the
//! graph loader and the ops' attribute parsers (byte mutations alone mostly stop at the JSON
//! parser). Op names and parameter names come from the op registry.

use mxrs_ndarray_core::registry;
use serde_json::{Map, Value};

use crate::rng::Rng;

/// Attribute values that stress the parsers: huge, negative and non-finite numbers, malformed
/// and huge tuples, empty strings and words of the wrong type.
const ATTR_VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "2",
    "3",
    "1000000000",
    "4294967297",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "True",
    "False",
    "None",
    "()",
    "(",
    "((1,2)",
    "(0,)",
    "(1,)",
    "(2, 2)",
    "(-1, 0)",
    "(0, -1)",
    "(1000000000, 1000000000)",
    "(100000, 100000, 100000)",
    "[3, 3]",
    "(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33)",
    "relu",
    "max",
    "avg",
    "float16",
    "int64",
    "bogus",
    "{}",
];

const NUMBERS: &[i64] = &[0, 1, 2, 3, -1, -2, 10, 255, 1 << 31, 1 << 32, i64::MAX, i64::MIN];

/// Every value of the tree, as a path of keys/indices from the root.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn collect_paths(v: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(path.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(Step::Key(k.clone()));
                collect_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(Step::Index(i));
                collect_paths(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'v>(v: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

fn random_attrs(rng: &mut Rng, op: &str) -> Map<String, Value> {
    let mut m = Map::new();
    let Ok(def) = registry().get(op) else { return m };
    for p in def.params {
        if rng.one_in(2) {
            let v =
                if rng.one_in(2) { p.default.unwrap_or("1").to_string() } else { rng.pick(ATTR_VALUES).to_string() };
            m.insert(p.name.to_string(), Value::String(v));
        }
    }
    m
}

/// A random registered op name.
fn random_op(rng: &mut Rng) -> String {
    let names = registry().names();
    rng.pick(&names).to_string()
}

/// Retarget one node of `nodes` to a random op with random attributes, keeping its inputs.
fn retarget_node(rng: &mut Rng, root: &mut Value) -> bool {
    let Some(nodes) = root.get_mut("nodes").and_then(Value::as_array_mut) else { return false };
    if nodes.is_empty() {
        return false;
    }
    let i = rng.below(nodes.len());
    let Some(node) = nodes[i].as_object_mut() else { return false };
    let op = random_op(rng);
    let attrs = random_attrs(rng, &op);
    node.insert("op".into(), Value::String(op));
    node.insert("attrs".into(), Value::Object(attrs));
    true
}

/// Change one value somewhere in the tree.
fn mutate_value(rng: &mut Rng, root: &mut Value) {
    let mut paths = Vec::new();
    collect_paths(root, &mut Vec::new(), &mut paths);
    let path = rng.pick(&paths).clone();
    let Some(v) = at_path(root, &path) else { return };
    match v {
        Value::Number(_) | Value::Bool(_) | Value::Null => {
            *v = match rng.below(4) {
                0 => Value::from(*rng.pick(NUMBERS)),
                1 => Value::from(rng.below(64) as i64),
                2 => Value::from(-1.5),
                _ => Value::String(rng.pick(ATTR_VALUES).to_string()),
            };
        }
        Value::String(s) => {
            *s = match rng.below(3) {
                0 => random_op(rng),
                _ => rng.pick(ATTR_VALUES).to_string(),
            };
        }
        Value::Array(a) => match rng.below(4) {
            0 if !a.is_empty() => {
                a.remove(rng.below(a.len()));
            }
            1 if !a.is_empty() => {
                let x = a[rng.below(a.len())].clone();
                a.insert(rng.below(a.len() + 1), x);
            }
            2 => a.push(Value::from(rng.below(8) as i64)),
            _ => a.reverse(),
        },
        Value::Object(m) => {
            if !m.is_empty() && rng.one_in(2) {
                let keys: Vec<String> = m.keys().cloned().collect();
                m.remove(rng.pick(&keys));
            } else {
                let op = random_op(rng);
                let extra = random_attrs(rng, &op);
                m.extend(extra);
            }
        }
    }
}

/// A structural mutant of a JSON input, or None when the input is not valid JSON (the caller
/// then mutates bytes).
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Option<Vec<u8>> {
    let mut root: Value = serde_json::from_slice(input).ok()?;
    for _ in 0..1 + rng.below(3) {
        if !(rng.one_in(3) && retarget_node(rng, &mut root)) {
            mutate_value(rng, &mut root);
        }
    }
    serde_json::to_vec(&root).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_valid_json_and_differ() {
        let src = br#"{"nodes": [{"op": "null", "name": "x", "inputs": []}], "heads": [[0, 0, 0]]}"#;
        let mut rng = Rng::new(3);
        let mut differ = 0;
        for _ in 0..100 {
            let m = mutate(&mut rng, src).expect("valid JSON in, valid JSON out");
            let v: Value = serde_json::from_slice(&m).unwrap();
            differ += usize::from(v != serde_json::from_slice::<Value>(src).unwrap());
        }
        assert!(differ > 80, "{differ}");
        assert!(mutate(&mut rng, b"{not json").is_none());
    }
}
