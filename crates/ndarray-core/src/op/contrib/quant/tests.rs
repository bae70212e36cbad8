//! Unit tests of the quantization kernels: hand-computed values of the oneDNN arithmetic
//! (scales, ties to even, saturation), the int32 products and their ranges, shape and dtype
//! inference, and errors.

use super::super::store;
use crate::backend::cpu::Parallelism;
use crate::context::Context;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::op::{Attrs, OpCtx, TensorIn, registry};
use crate::storage::CpuStorage;

/// One input: dtype, shape, values.
type Input = (DType, Vec<usize>, Vec<f64>);

fn f32s(v: &[f64]) -> Input {
    (DType::F32, vec![v.len()], v.to_vec())
}

fn range(v: f64) -> Input {
    (DType::F32, vec![1], vec![v])
}

/// Run op `name` with `attrs` over `inputs`: the outputs' dtypes and values.
fn run(name: &str, attrs: &[(&str, &str)], inputs: &[Input]) -> Result<Vec<(DType, Vec<f64>)>> {
    let op = (registry().get(name)?.create)(&Attrs::from_pairs(attrs.iter().copied()))?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|i| i.1.clone()).collect();
    let dts: Vec<DType> = inputs.iter().map(|i| i.0).collect();
    let out_shapes = op.infer_shape(&shapes)?;
    let out_dts = op.infer_dtype(&dts)?;
    let stores: Vec<CpuStorage> = inputs.iter().map(|i| store(i.0, i.2.clone())).collect();
    let tins: Vec<TensorIn<'_>> =
        stores.iter().zip(&shapes).map(|(s, sh)| TensorIn { data: s, offset: 0, shape: sh }).collect();
    let mut ctx = OpCtx { ctx: Context::default(), rng: None, is_train: false, par: Parallelism::SERIAL };
    let outs = op.forward(&mut ctx, &tins, &out_shapes, &out_dts)?;
    Ok(outs
        .iter()
        .zip(out_dts)
        .map(|(s, d)| {
            let v = crate::dispatch!(storage s => v: T, { v.iter().map(|a| a.to_f64()).collect() });
            (d, v)
        })
        .collect())
}

#[test]
fn quantize_v2_scales_round_to_even_and_saturate() {
    // range 1.0: int8 scale 127.5, so 1.0 -> 127.5 -> 128 (even) -> saturated 127.
    let x = f32s(&[1.0, -1.0, 0.5, 2.0 / 255.0, -0.25]);
    let o = run("_contrib_quantize_v2", &[], &[x.clone()]).unwrap();
    assert_eq!(o[0].0, DType::I8);
    assert_eq!(o[0].1, vec![127.0, -128.0, 64.0, 1.0, -32.0]);
    assert_eq!((o[1].1[0], o[2].1[0]), (-1.0, 1.0));
    let o = run("_contrib_quantize_v2", &[("out_type", "uint8")], &[x]).unwrap();
    assert_eq!(o[0].0, DType::U8);
    assert_eq!(o[0].1, vec![255.0, 0.0, 128.0, 2.0, 0.0]);
    assert_eq!((o[1].1[0], o[2].1[0]), (-1.0, 1.0));
    let a = [("out_type", "auto"), ("min_calib_range", "0"), ("max_calib_range", "2")];
    let o = run("_contrib_quantize_v2", &a, &[f32s(&[1.0, 3.0])]).unwrap();
    assert_eq!(o[0].0, DType::U8);
    assert_eq!(o[0].1, vec![128.0, 255.0]);
}

#[test]
fn dequantize_and_requantize_follow_the_onednn_scales() {
    let q = (DType::I8, vec![3], vec![-128.0, 0.0, 51.0]);
    let o = run("_contrib_dequantize", &[], &[q, range(-0.5), range(2.55)]).unwrap();
    let s = 2.55f32 / 127.5;
    assert_eq!(o[0].1, vec![(-128.0 * s) as f64, 0.0, (51.0 * s) as f64]);
    // 2^30 in [-2, 2] over 2^31 is 1.0; calibrated to [-2, 2] int8 that is 127 / 2 -> 63.5 -> 64.
    let d = (DType::I32, vec![2], vec![1073741824.0, -1073741824.0]);
    let a = [("min_calib_range", "-2"), ("max_calib_range", "2")];
    let o = run("_contrib_requantize", &a, &[d.clone(), range(-2.0), range(2.0)]).unwrap();
    assert_eq!(o[0].1, vec![64.0, -64.0]);
    assert_eq!((o[1].1[0], o[2].1[0]), (-2.0, 2.0));
    // Uncalibrated: the data's own extreme maps to 127.
    let o = run("_contrib_requantize", &[], &[d, range(-2.0), range(2.0)]).unwrap();
    assert_eq!(o[0].1, vec![127.0, -127.0]);
    assert_eq!(o[2].1[0], 1.0);
}

#[test]
fn quantized_fc_accumulates_exactly_with_rescaled_bias() {
    let data = (DType::I8, vec![2, 3], vec![1.0, -2.0, 3.0, 127.0, 127.0, -128.0]);
    let w = (DType::I8, vec![2, 3], vec![4.0, 5.0, 6.0, -1.0, 0.0, 1.0]);
    let b = (DType::I8, vec![2], vec![10.0, -10.0]);
    let ins = [data, w, b, range(-1.0), range(1.0), range(-1.0), range(1.0), range(-1.0), range(1.0)];
    let o = run("_contrib_quantized_fully_connected", &[("num_hidden", "2")], &ins).unwrap();
    assert_eq!(o[0].0, DType::I32);
    // Bias rescale: 127.5 * 127.5 * 1 / 127.5 = 127.5; 10 * 127.5 = 1275.
    assert_eq!(o[0].1, vec![12.0 + 1275.0, 2.0 - 1275.0, 375.0 + 1275.0, -255.0 - 1275.0]);
    let m = (1.0f32 / 127.0) * (1.0f32 / 127.0) * 2_147_483_648.0;
    assert_eq!((o[1].1[0], o[2].1[0]), (-m as f64, m as f64));
}

#[test]
fn quantized_conv_int8_and_uint8_bias_conventions() {
    let data = |dt| (dt, vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let w = (DType::I8, vec![1, 1, 2, 2], vec![1.0, 1.0, 1.0, -1.0]);
    let b = (DType::I8, vec![1], vec![5.0]);
    let attrs = [("kernel", "(2, 2)"), ("num_filter", "1")];
    let rest = [range(0.0), range(1.0), range(-1.0), range(1.0), range(-1.0), range(1.0)];
    let mut ins = vec![data(DType::U8), w.clone(), b.clone()];
    ins.extend(rest.iter().cloned());
    let o = run("_contrib_quantized_conv", &attrs, &ins).unwrap();
    assert_eq!(o[0].1, vec![2.0 + 5.0], "uint8 data: oneDNN adds the raw bias");
    ins[0] = data(DType::I8);
    let o = run("_contrib_quantized_conv", &attrs, &ins).unwrap();
    let m = (1.0f32 / 127.0) * (1.0f32 / 127.0) * 2_147_483_648.0;
    let out_level = (m as f64 / i32::MAX as f64) as f32;
    let bias_level = (1.0f64 / 127.0) as f32;
    let want = ((2.0f32 * out_level + 5.0 * bias_level) / out_level) as i32;
    assert_eq!(o[0].1, vec![want as f64], "int8 data: the portable kernel rescales the bias");
}

#[test]
fn layers_pass_ranges_and_round_averages() {
    let d = (DType::I8, vec![1, 1, 2, 2], vec![1.0, 2.0, 2.0, 4.0]);
    let a = [("kernel", "(2, 2)"), ("pool_type", "avg")];
    let o = run("_contrib_quantized_pooling", &a, &[d.clone(), range(-3.0), range(3.0)]).unwrap();
    assert_eq!(o[0].1, vec![2.0], "9 / 4 = 2.25 rounds to 2");
    assert_eq!((o[1].1[0], o[2].1[0]), (-3.0, 3.0));
    let o = run("_contrib_quantized_flatten", &[], &[d, range(-3.0), range(3.0)]).unwrap();
    assert_eq!(o[0].1.len(), 4);
    let u = (DType::U8, vec![3], vec![0.0, 100.0, 200.0]);
    let o = run("_contrib_quantized_act", &[("act_type", "relu")], &[u, range(0.0), range(1.0)]).unwrap();
    assert_eq!((o[0].0, o[0].1.clone()), (DType::I8, vec![0.0, 100.0, -56.0]));
}

#[test]
fn elementwise_ranges() {
    let a = (DType::I8, vec![2], vec![10.0, -20.0]);
    let b = (DType::I8, vec![2], vec![3.0, 4.0]);
    let o = run("_contrib_quantized_elemwise_mul", &[], &[a.clone(), b.clone(), range(-1.0), range(1.0), range(-2.0), range(2.0)])
        .unwrap();
    assert_eq!((o[0].0, o[0].1.clone()), (DType::I32, vec![30.0, -80.0]));
    let o = run("_contrib_quantized_elemwise_add", &[], &[a, b, range(-1.0), range(1.0), range(-1.0), range(1.0)]).unwrap();
    assert_eq!(o[0].0, DType::I32);
    assert_eq!((o[1].1[0], o[2].1[0]), (-2.0, 2.0));
    // Scale for each: 1 * 2^31 / (2 * 127.5); 13 * that.
    let s = 1.0f32 * 2_147_483_648.0 / (2.0 * 127.5);
    assert_eq!(o[0].1[0], (s * 10.0 + s * 3.0).round_ties_even() as f64);
}

#[test]
fn calibrate_entropy_picks_a_threshold_inside_the_edges() {
    let hist: Vec<f64> = (0..21).map(|i| (10 - (i as i64 - 10).abs()) as f64 * 10.0 + 1.0).collect();
    let edges: Vec<f64> = (0..22).map(|i| i as f64 - 10.5).collect();
    let o = run("_contrib_calibrate_entropy", &[("num_quantized_bins", "5")], &[f32s(&hist), f32s(&edges)]).unwrap();
    let t = o[0].1[0];
    assert!((2.5..=10.5).contains(&t), "{t}");
    assert!(o[1].1[0].is_finite() && o[1].1[0] >= 0.0);
}

#[test]
fn quantize_asym_2d_rounds_half_up() {
    let o = run("_contrib_quantize_asym", &[], &[(DType::F32, vec![1, 3], vec![-1.0, 0.0, 1.0])]).unwrap();
    // scale 127.5, shift 127.5: 0 -> 127.5 + 0.5 -> 128.
    assert_eq!(o[0].1, vec![0.0, 128.0, 255.0]);
    assert_eq!((o[1].1[0], o[2].1[0]), (127.5, 127.5));
}

#[test]
fn errors_name_the_op() {
    let e = run("_contrib_dequantize", &[], &[f32s(&[1.0]), range(0.0), range(1.0)]).unwrap_err().to_string();
    assert!(e.contains("_contrib_dequantize") && e.contains("int8 or uint8"), "{e}");
    let e = run("_contrib_quantize", &[], &[f32s(&[1.0]), f32s(&[0.0, 1.0]), range(1.0)]).unwrap_err().to_string();
    assert!(e.contains("_contrib_quantize") && e.contains("min_range"), "{e}");
    let e = run("_contrib_quantized_batch_norm", &[], &[]).unwrap_err().to_string();
    assert!(e.contains("min_calib_range"), "{e}");
}
