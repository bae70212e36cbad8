//! MXNet's string attributes (`{"num_hidden": "128", "axis": "(0, 1)"}`) and typed getters.

use std::collections::BTreeMap;

use crate::dtype::DType;
use crate::error::{Error, Result};

/// Operator attributes as MXNet passes them: every value is a string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs(pub BTreeMap<String, String>);

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "True" | "true" | "1" => Some(true),
        "False" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    t.parse::<i64>().ok().or_else(|| {
        // Accept integral floats such as "3.0" and Python longs "3L".
        let f: f64 = t.trim_end_matches('L').parse().ok()?;
        (f.fract() == 0.0).then_some(f as i64)
    })
}

/// The most inputs or outputs an operator's count parameter (`num_args`, `num_outputs`) may ask
/// for.
pub const MAX_ARITY: usize = 1 << 16;

/// Parse `(2, 3)`, `[2,3]`, `(2,)`, `2` or `()` into integers; `None` for "None".
pub fn parse_tuple(s: &str) -> Option<Option<Vec<i64>>> {
    let t = s.trim();
    if t == "None" {
        return Some(None);
    }
    let inner = t.trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
    if inner.trim().is_empty() {
        return Some(Some(Vec::new()));
    }
    let mut out = Vec::new();
    for part in inner.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        if p == "None" {
            out.push(i64::MIN);
            continue;
        }
        out.push(parse_int(p)?);
    }
    Some(Some(out))
}

impl Attrs {
    /// Attributes from `(key, value)` pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Attrs {
        Attrs(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// Set a value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.to_string(), value.into());
        self
    }

    /// The raw string, if present and not "None".
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.as_str()).filter(|s| s.trim() != "None")
    }

    /// Reject attributes not in `known` (a misspelt parameter is an error, as in MXNet): an
    /// argument-kind error (`TypeError`, as Python gives for an unexpected keyword) that lists
    /// the valid names.
    pub fn check_known(&self, op: &str, known: &[&str]) -> Result<()> {
        for k in self.0.keys() {
            if !known.contains(&k.as_str()) && !k.starts_with("__") && k != "name" {
                let valid = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                return Err(Error::type_error(op, format!("unknown parameter '{k}'; valid parameters are: {valid}")));
            }
        }
        Ok(())
    }

    fn bad(&self, op: &str, key: &str, what: &str) -> Error {
        Error::param(op, format!("invalid value '{}' for parameter {key}: expected {what}", self.0[key]))
    }

    /// A required integer.
    pub fn int(&self, op: &str, key: &str) -> Result<i64> {
        self.opt_int(op, key)?.ok_or_else(|| Error::param(op, format!("required parameter '{key}' is missing")))
    }

    /// An optional integer.
    pub fn opt_int(&self, op: &str, key: &str) -> Result<Option<i64>> {
        match self.raw(key) {
            None => Ok(None),
            Some(s) => parse_int(s).map(Some).ok_or_else(|| self.bad(op, key, "an integer")),
        }
    }

    /// A required count of inputs or outputs (`num_args`, `num_outputs`): an integer from 1 to
    /// [`MAX_ARITY`], so a negative or huge value is an error here and never becomes a huge
    /// `usize` that later code would allocate for.
    pub fn count(&self, op: &str, key: &str) -> Result<usize> {
        let n = self.int(op, key)?;
        if n < 1 || n > MAX_ARITY as i64 {
            return Err(Error::param(
                op,
                format!("invalid value {n} for parameter {key}: expected a count from 1 to {MAX_ARITY}"),
            ));
        }
        Ok(n as usize)
    }

    /// An integer with a default.
    pub fn int_or(&self, op: &str, key: &str, default: i64) -> Result<i64> {
        Ok(self.opt_int(op, key)?.unwrap_or(default))
    }

    /// An optional float.
    pub fn opt_float(&self, op: &str, key: &str) -> Result<Option<f64>> {
        match self.raw(key) {
            None => Ok(None),
            Some(s) => {
                let t = s.trim();
                let v = match t {
                    "inf" | "+inf" | "Infinity" => Some(f64::INFINITY),
                    "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
                    "nan" | "NaN" => Some(f64::NAN),
                    "True" => Some(1.0),
                    "False" => Some(0.0),
                    _ => t.parse::<f64>().ok(),
                };
                v.map(Some).ok_or_else(|| self.bad(op, key, "a number"))
            }
        }
    }

    /// A float with a default.
    pub fn float_or(&self, op: &str, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_float(op, key)?.unwrap_or(default))
    }

    /// A required float.
    pub fn float(&self, op: &str, key: &str) -> Result<f64> {
        self.opt_float(op, key)?.ok_or_else(|| Error::param(op, format!("required parameter '{key}' is missing")))
    }

    /// A bool with a default.
    pub fn bool_or(&self, op: &str, key: &str, default: bool) -> Result<bool> {
        match self.raw(key) {
            None => Ok(default),
            Some(s) => parse_bool(s).ok_or_else(|| self.bad(op, key, "a boolean")),
        }
    }

    /// An optional tuple of integers (a single integer counts as a 1-tuple).
    pub fn opt_tuple(&self, op: &str, key: &str) -> Result<Option<Vec<i64>>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(s) => parse_tuple(s).ok_or_else(|| self.bad(op, key, "a tuple of integers")),
        }
    }

    /// An optional tuple whose entries may be `None` (`begin=(None, 2)`); absent gives `[]`.
    pub fn opt_list(&self, op: &str, key: &str) -> Result<Vec<Option<i64>>> {
        let t = self.opt_tuple(op, key)?.unwrap_or_default();
        Ok(t.into_iter().map(|v| if v == i64::MIN { None } else { Some(v) }).collect())
    }

    /// A required tuple.
    pub fn tuple(&self, op: &str, key: &str) -> Result<Vec<i64>> {
        self.opt_tuple(op, key)?.ok_or_else(|| Error::param(op, format!("required parameter '{key}' is missing")))
    }

    /// A shape tuple: a shape error for a dimension that is negative or not an integer, or a
    /// shape whose size overflows.
    pub fn shape(&self, op: &str, key: &str) -> Result<Vec<usize>> {
        let t = match self.0.get(key) {
            None => Vec::new(),
            Some(s) => parse_tuple(s)
                .ok_or_else(|| {
                    Error::shape(op, format!("invalid {key} '{s}': dimensions must be non-negative integers"))
                })?
                .unwrap_or_default(),
        };
        crate::shape::from_dims(op, &t)
    }

    /// A string with a default.
    pub fn str_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.raw(key).map(|s| s.trim().trim_matches(['\'', '"'])).unwrap_or(default)
    }

    /// An optional dtype given by name.
    pub fn opt_dtype(&self, op: &str, key: &str) -> Result<Option<DType>> {
        match self.raw(key) {
            None => Ok(None),
            Some(s) => {
                let name = s.trim().trim_matches(['\'', '"']);
                let name = name.strip_prefix("<class 'numpy.").map(|r| r.trim_end_matches("'>")).unwrap_or(name);
                DType::from_name(name).map(Some).map_err(|_| self.bad(op, key, "a dtype name"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples() {
        assert_eq!(parse_tuple("(2, 3)"), Some(Some(vec![2, 3])));
        assert_eq!(parse_tuple("[1,]"), Some(Some(vec![1])));
        assert_eq!(parse_tuple("4"), Some(Some(vec![4])));
        assert_eq!(parse_tuple("()"), Some(Some(vec![])));
        assert_eq!(parse_tuple("None"), Some(None));
        assert_eq!(parse_tuple("(None, 2)"), Some(Some(vec![i64::MIN, 2])));
        assert_eq!(parse_tuple("(a)"), None);
    }

    #[test]
    fn getters() {
        let a = Attrs::from_pairs([("k", "3"), ("f", "1e-05"), ("b", "True"), ("d", "float16")]);
        assert_eq!(a.int("op", "k").unwrap(), 3);
        assert_eq!(a.float_or("op", "f", 0.0).unwrap(), 1e-5);
        assert!(a.bool_or("op", "b", false).unwrap());
        assert_eq!(a.opt_dtype("op", "d").unwrap(), Some(DType::F16));
        assert!(a.int("op", "missing").is_err());
        assert!(matches!(a.check_known("op", &["k"]), Err(Error::Type { .. })));
    }

    #[test]
    fn shapes_are_checked() {
        let a = Attrs::from_pairs([
            ("s", "(2, 3)"),
            ("neg", "(-1, 2)"),
            ("frac", "(2.5, 2)"),
            ("big", "(4611686018427387904, 8)"),
        ]);
        assert_eq!(a.shape("op", "s").unwrap(), vec![2, 3]);
        assert_eq!(a.shape("op", "missing").unwrap(), Vec::<usize>::new());
        for key in ["neg", "frac", "big"] {
            assert!(matches!(a.shape("op", key), Err(Error::Shape { .. })), "{key}");
        }
    }
}
