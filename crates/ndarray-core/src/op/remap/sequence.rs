//! `SequenceMask`, `SequenceLast` and `SequenceReverse`: data with a time axis and a batch
//! axis (`axis` 0: `(T, N, ...)`, `axis` 1: `(N, T, ...)`), with optional per-sample lengths
//! (`use_sequence_length`, input `sequence_length (N,)`).

use super::{Remap, Spec, map_coords, remap_grad};
use crate::error::{Error, Result};
use crate::op::Attrs;
use crate::params;
use crate::shape::{Shape, fmt_shape};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Mask,
    Last,
    Reverse,
}

#[derive(Debug)]
struct Sequence {
    name: &'static str,
    kind: Kind,
    use_len: bool,
    value: f64,
    axis: usize,
}

impl Sequence {
    /// (time axis, batch axis).
    fn axes(&self) -> (usize, usize) {
        (self.axis, 1 - self.axis)
    }

    /// The valid length of every sample, checked against the time dimension.
    fn lengths(&self, s: &[usize], aux: &[Vec<f64>]) -> Result<Vec<usize>> {
        let (ta, ba) = self.axes();
        if !self.use_len {
            return Ok(vec![s[ta]; s[ba]]);
        }
        aux[0]
            .iter()
            .map(|&l| {
                if l < 0.0 || l as usize > s[ta] || (self.kind != Kind::Mask && l < 1.0) {
                    Err(Error::param(self.name, format!("sequence length {l} is outside [1, {}]", s[ta])))
                } else {
                    Ok(l as usize)
                }
            })
            .collect()
    }
}

impl Remap for Sequence {
    fn name(&self) -> &'static str {
        self.name
    }
    fn num_inputs(&self) -> usize {
        1 + self.use_len as usize
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let mut v = vec!["data".to_string()];
        if self.use_len {
            v.push("sequence_length".into());
        }
        Some(v)
    }
    fn fill(&self) -> f64 {
        self.value
    }
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        let (_, ba) = self.axes();
        if s.len() < 2 {
            return Err(Error::shape(
                self.name,
                format!("data must have a time and a batch axis, got {}", fmt_shape(s)),
            ));
        }
        if self.use_len && inputs[1].as_slice() != [s[ba]] {
            return Err(Error::shape(
                self.name,
                format!("sequence_length must be ({},), got {}", s[ba], fmt_shape(&inputs[1])),
            ));
        }
        let mut out = s.clone();
        if self.kind == Kind::Last {
            out.remove(self.axis);
        }
        Ok(out)
    }
    fn map(&self, inputs: &[Shape], out: &[usize], aux: &[Vec<f64>]) -> Result<Vec<i64>> {
        let s = &inputs[0];
        let len = self.lengths(s, aux)?;
        let (ta, ba) = self.axes();
        Ok(match self.kind {
            Kind::Mask => map_coords(out, s, |o, i| {
                i.copy_from_slice(o);
                o[ta] < len[o[ba]]
            }),
            Kind::Reverse => map_coords(out, s, |o, i| {
                i.copy_from_slice(o);
                let l = len[o[ba]];
                if o[ta] < l {
                    i[ta] = l - 1 - o[ta];
                }
                true
            }),
            Kind::Last => map_coords(out, s, |o, i| {
                // `o` lacks the time axis; the batch index sits at position 0 either way.
                let b = o[0];
                let mut rest = o.iter();
                for (d, slot) in i.iter_mut().enumerate() {
                    *slot = if d == ta { len[b] - 1 } else { *rest.next().unwrap_or(&0) };
                }
                true
            }),
        })
    }
}

fn create(name: &'static str, kind: Kind, a: &Attrs) -> Result<Box<dyn Remap>> {
    let mut known = vec!["use_sequence_length", "axis"];
    if kind == Kind::Mask {
        known.push("value");
    }
    a.check_known(name, &known)?;
    let axis = a.int_or(name, "axis", 0)?;
    if !(0..=1).contains(&axis) || (kind == Kind::Reverse && axis != 0) {
        let allowed = if kind == Kind::Reverse { "0" } else { "0 or 1" };
        return Err(Error::param(name, format!("axis must be {allowed}, got {axis}")));
    }
    Ok(Box::new(Sequence {
        name,
        kind,
        use_len: a.bool_or(name, "use_sequence_length", false)?,
        value: a.float_or(name, "value", 0.0)?,
        axis: axis as usize,
    }))
}

fn mask(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    create(name, Kind::Mask, a)
}

fn last(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    create(name, Kind::Last, a)
}

fn reverse(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    create(name, Kind::Reverse, a)
}

remap_grad!(grad_mask, "_backward_SequenceMask");
remap_grad!(grad_last, "_backward_SequenceLast");
remap_grad!(grad_reverse, "_backward_SequenceReverse");

pub(super) fn specs() -> Vec<Spec> {
    let inputs: &'static [&'static str] = &["data", "sequence_length"];
    vec![
        Spec {
            name: "SequenceMask",
            back: "_backward_SequenceMask",
            inputs,
            params: params!("use_sequence_length" = Some("False"), "value" = Some("0"), "axis" = Some("0")),
            doc: "set the steps past each sample's length to a value",
            create: mask,
            grad: grad_mask,
            aliases: &[],
        },
        Spec {
            name: "SequenceLast",
            back: "_backward_SequenceLast",
            inputs,
            params: params!("use_sequence_length" = Some("False"), "axis" = Some("0")),
            doc: "the last valid step of each sample",
            create: last,
            grad: grad_last,
            aliases: &[],
        },
        Spec {
            name: "SequenceReverse",
            back: "_backward_SequenceReverse",
            inputs,
            params: params!("use_sequence_length" = Some("False"), "axis" = Some("0")),
            doc: "reverse the valid steps of each sample",
            create: reverse,
            grad: grad_reverse,
            aliases: &[],
        },
    ]
}
