use crate::eager_grad::check_numeric_gradient;
use crate::eager_grad::testing::{arr, vals};
use crate::op::Attrs;

/// One case of the finite-difference check.
struct Case<'a> {
    mode: &'a str,
    layers: usize,
    bidir: bool,
    state_outputs: bool,
    proj: usize,
    lens: Option<&'a [f64]>,
    clip: Option<(f64, f64)>,
}

impl Case<'_> {
    fn plain(mode: &str, layers: usize, bidir: bool, state_outputs: bool) -> Case<'_> {
        Case { mode, layers, bidir, state_outputs, proj: 0, lens: None, clip: None }
    }
}

fn check(k: &Case<'_>) {
    let (t, n, i, h) = (3, 2, 3, 2 + (k.proj > 0) as usize);
    let dirs = if k.bidir { 2 } else { 1 };
    let g = match k.mode {
        "lstm" => 4,
        "gru" => 3,
        _ => 1,
    };
    let hr = if k.proj > 0 { k.proj } else { h };
    let psize: usize =
        (0..k.layers).map(|l| dirs * (g * h * (if l == 0 { i } else { dirs * hr } + hr) + k.proj * h)).sum::<usize>()
            + k.layers * dirs * 2 * g * h;
    let mut ins = vec![arr(&[t, n, i], 1), arr(&[psize], 2), arr(&[k.layers * dirs, n, hr], 3)];
    if k.mode == "lstm" {
        ins.push(arr(&[k.layers * dirs, n, h], 4));
    }
    let which: Vec<usize> = (0..ins.len()).collect();
    let mut a = Attrs::from_pairs([
        ("mode", k.mode.to_string()),
        ("state_size", h.to_string()),
        ("num_layers", k.layers.to_string()),
        ("bidirectional", k.bidir.to_string()),
        ("state_outputs", k.state_outputs.to_string()),
    ]);
    if let Some(lens) = k.lens {
        ins.push(vals(&[n], lens));
        a.set("use_sequence_length", "True");
    }
    if k.proj > 0 {
        a.set("projection_size", k.proj.to_string());
    }
    if let Some((lo, hi)) = k.clip {
        a.set("lstm_state_clip_min", lo.to_string());
        a.set("lstm_state_clip_max", hi.to_string());
    }
    check_numeric_gradient("RNN", &a, &ins, &which, true, 1e-6, 1e-5, 1e-7)
        .unwrap_or_else(|e| panic!("{} layers={} bidir={}: {e}", k.mode, k.layers, k.bidir));
}

#[test]
fn rnn_gradients_match_finite_differences() {
    for mode in ["rnn_tanh", "rnn_relu", "lstm", "gru"] {
        check(&Case::plain(mode, 1, false, true));
        check(&Case::plain(mode, 2, true, true));
    }
    check(&Case::plain("lstm", 2, false, false));
}

#[test]
fn rnn_sequence_length_gradients_match_finite_differences() {
    for mode in ["rnn_tanh", "lstm", "gru"] {
        for lens in [&[2.0, 3.0][..], &[1.0, 0.0][..]] {
            check(&Case { lens: Some(lens), ..Case::plain(mode, 2, true, true) });
        }
        check(&Case { lens: Some(&[3.0, 1.0]), ..Case::plain(mode, 1, false, true) });
    }
}

#[test]
fn lstm_projection_and_clip_gradients_match_finite_differences() {
    let proj = Case { proj: 2, ..Case::plain("lstm", 2, true, true) };
    check(&proj);
    check(&Case { lens: Some(&[1.0, 3.0]), ..proj });
    check(&Case { proj: 1, ..Case::plain("lstm", 1, false, false) });
    // Bounds that clip some cell states but leave the differences away from the kinks.
    check(&Case { clip: Some((-0.3, 0.35)), ..Case::plain("lstm", 2, true, true) });
}
