//! Unit tests of the detection kernels (hand-computed values) and their shape, dtype and
//! parameter errors through the registry.

use super::detect::Detect;
use super::prior::Prior;
use super::proposal::{base_anchors, nms};
use super::target::Target;
use super::{DetKernel, In};
use crate::dtype::DType;
use crate::op::{Attrs, Operator, registry};

fn op(name: &str, attrs: &[(&str, &str)]) -> crate::error::Result<Box<dyn Operator>> {
    (registry().get(name)?.create)(&Attrs::from_pairs(attrs.iter().copied()))
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-6 * (1.0 + w.abs()), "element {i}: {g} vs {w}");
    }
}

#[test]
fn prior_boxes_in_caffe_order() {
    let p =
        Prior { sizes: vec![0.5, 0.2], ratios: vec![1.0, 4.0], clip: false, steps: [-1.0, -1.0], offsets: [0.5, 0.5] };
    let b = p.boxes(2, 4);
    assert_eq!(b.len(), 2 * 4 * 3 * 4);
    let (cx, cy) = (0.125f32, 0.25f32);
    // size 0.5 ratio 1; size 0.2 ratio 1; size 0.5 ratio 4 (sqrt 2).
    let wh = [(0.125f32, 0.25f32), (0.05, 0.1), (0.25, 0.125)];
    let want: Vec<f32> = wh.iter().flat_map(|&(w, h)| [cx - w, cy - h, cx + w, cy + h]).collect();
    close(&b[..12], &want);
    let clipped = Prior { clip: true, sizes: vec![3.0], ..p }.boxes(2, 2);
    assert!(clipped.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn target_matches_and_encodes() {
    let t = Target { overlap: 0.5, ignore: -1.0, mining_ratio: -1.0, mining_thresh: 0.5, var: [0.1, 0.1, 0.2, 0.2] };
    let anchors = [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0, 0.6, 0.5];
    let label = [1.0, 0.0, 0.0, 0.5, 0.5, -1.0, -1.0, -1.0, -1.0, -1.0];
    let cls = [0.0; 6];
    let shapes = [vec![1, 3, 4], vec![1, 2, 5], vec![1, 2, 3]];
    let out = t.shapes(&shapes).unwrap();
    let x = [In { v: &anchors, s: &shapes[0] }, In { v: &label, s: &shapes[1] }, In { v: &cls, s: &shapes[2] }];
    let y = t.run(&x, &out).unwrap();
    // Anchor 0 is the bipartite match, anchor 2 (IoU 0.25 / 0.3) passes the threshold.
    assert_eq!(y[2], vec![2.0, 0.0, 2.0]);
    assert_eq!(&y[1][..4], &[1.0; 4]);
    assert_eq!(&y[1][4..8], &[0.0; 4]);
    close(&y[0][..4], &[0.0; 4]);
    let (ax, aw) = (0.3f32, 0.6f32);
    close(&y[0][8..12], &[(0.25 - ax) / aw / 0.1, 0.0, (0.5f32 / aw).ln() / 0.2, 0.0]);
}

#[test]
fn detection_sorts_and_suppresses() {
    let d = Detect { clip: true, threshold: 0.1, nms: 0.5, force: false, var: [0.1, 0.1, 0.2, 0.2], topk: -1 };
    let anchors = [0.1, 0.1, 0.5, 0.5, 0.12, 0.1, 0.52, 0.5, 0.6, 0.6, 0.9, 0.9];
    // (classes 3, anchors 3): background, class 0, class 1.
    let prob = [0.1, 0.2, 0.3, 0.7, 0.8, 0.1, 0.2, 0.0, 0.6];
    let loc = [0.0; 12];
    let shapes = [vec![1, 3, 3], vec![1, 12], vec![1, 3, 4]];
    let out = d.shapes(&shapes).unwrap();
    assert_eq!(out, vec![vec![1, 3, 6]]);
    let x = [In { v: &prob, s: &shapes[0] }, In { v: &loc, s: &shapes[1] }, In { v: &anchors, s: &shapes[2] }];
    let y = &d.run(&x, &out).unwrap()[0];
    close(&y[..6], &[0.0, 0.8, 0.12, 0.1, 0.52, 0.5]);
    close(&y[6..12], &[-1.0, 0.7, 0.1, 0.1, 0.5, 0.5]); // same class, IoU 0.9: suppressed
    close(&y[12..], &[1.0, 0.6, 0.6, 0.6, 0.9, 0.9]);
}

#[test]
fn proposal_anchors_are_py_faster_rcnn_s() {
    let a = base_anchors(16, &[0.5, 1.0, 2.0], &[8.0, 16.0, 32.0]);
    let want = [
        [-84.0, -40.0, 99.0, 55.0],
        [-176.0, -88.0, 191.0, 103.0],
        [-360.0, -184.0, 375.0, 199.0],
        [-56.0, -56.0, 71.0, 71.0],
        [-120.0, -120.0, 135.0, 135.0],
        [-248.0, -248.0, 263.0, 263.0],
        [-36.0, -80.0, 51.0, 95.0],
        [-80.0, -168.0, 95.0, 183.0],
        [-168.0, -344.0, 183.0, 359.0],
    ];
    assert_eq!(a, want);
}

#[test]
fn proposal_nms_uses_pixel_areas() {
    // IoU with +1 areas: 10x10 boxes shifted by 5 overlap 5*10 / (100 + 100 - 50) = 1/3.
    let d = [[0.0, 0.0, 9.0, 9.0, 0.9], [5.0, 0.0, 14.0, 9.0, 0.8], [40.0, 40.0, 49.0, 49.0, 0.7]];
    assert_eq!(nms(&d, 0.3, 10), vec![0, 2]);
    assert_eq!(nms(&d, 0.34, 10), vec![0, 1, 2]);
    assert_eq!(nms(&d, 0.34, 2), vec![0, 1]);
}

#[test]
fn shape_dtype_and_param_errors() {
    let e = op("_contrib_MultiBoxPrior", &[]).unwrap().infer_shape(&[vec![2, 3]]).unwrap_err().to_string();
    assert!(e.contains("MultiBoxPrior") && e.contains("(2,3)"), "{e}");
    let t = op("_contrib_MultiBoxTarget", &[]).unwrap();
    let e = t.infer_shape(&[vec![1, 5, 4], vec![2, 3, 5], vec![2, 3, 6]]).unwrap_err().to_string();
    assert!(e.contains("MultiBoxTarget") && e.contains("cls_pred (2,3,6)"), "{e}");
    assert!(t.infer_dtype(&[DType::F64, DType::F64, DType::F64]).is_err());
    assert_eq!(t.infer_dtype(&[DType::F32; 3]).unwrap(), vec![DType::F32; 3]);
    let mut ins = [None, None, None];
    let mut outs = [None, None, None];
    t.infer_dtype_partial(&mut ins, &mut outs).unwrap();
    assert_eq!(ins, [Some(DType::F32); 3]);
    let p = op("_contrib_Proposal", &[("output_score", "True")]).unwrap();
    assert_eq!((p.num_outputs(), p.num_visible_outputs()), (2, 2));
    let mut ins = [Some(vec![1, 24, 3, 4]), None, None];
    let mut outs = [None, None];
    p.infer_shape_partial(&mut ins, &mut outs).unwrap();
    assert_eq!(ins[1], Some(vec![1, 48, 3, 4]));
    assert_eq!(outs, [Some(vec![300, 5]), Some(vec![300, 1])]);
    let mut bad = [Some(vec![1, 24, 3, 4]), Some(vec![1, 40, 3, 4]), None];
    assert!(p.infer_shape_partial(&mut bad, &mut outs).is_err());
    assert!(op("_contrib_MultiBoxDetection", &[("variances", "(1, 2)")]).is_err());
    assert!(op("_contrib_MultiBoxPrior", &[("offsets", "(0.5, 2)")]).is_err());
    assert!(op("_contrib_RROIAlign", &[("pooled_size", "(2,)"), ("spatial_scale", "1")]).is_err());
    let r = op("_contrib_RROIAlign", &[("pooled_size", "(2, 2)"), ("spatial_scale", "1")]).unwrap();
    let e = r.infer_shape(&[vec![1, 2, 4, 4], vec![3, 5]]).unwrap_err().to_string();
    assert!(e.contains("RROIAlign") && e.contains("(3,5)"), "{e}");
}

#[test]
fn rroi_align_samples_rotated_boxes() {
    use super::super::{In as In64, Kernel};
    use super::rroi::RroiAlign;
    let r = RroiAlign { ph: 1, pw: 2, scale: 1.0, ratio: 2 };
    // A map whose value is its x coordinate: a box rotated by 90 degrees samples along y, so
    // both bins see the center's x; unrotated, the two bins see x - w/4 and x + w/4.
    let data: Vec<f64> = (0..36).map(|i| (i % 6) as f64).collect();
    let rois = vec![0.0, 2.5, 2.5, 2.0, 2.0, 0.0, 0.0, 2.5, 2.5, 2.0, 2.0, 90.0];
    let (ds, rs) = ([1, 1, 6, 6], [2, 6]);
    let out = r.shapes(&[ds.to_vec(), rs.to_vec()]).unwrap();
    assert_eq!(out, vec![vec![2, 1, 1, 2]]);
    let y = r.run(&[In64 { v: data, s: &ds }, In64 { v: rois, s: &rs }], &out).unwrap();
    let want = [2.0, 3.0, 2.5, 2.5];
    for (g, w) in y[0].iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{:?}", y[0]);
    }
    let bad =
        r.run(&[In64 { v: vec![0.0; 36], s: &ds }, In64 { v: vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0], s: &[1, 6] }], &out);
    assert!(bad.unwrap_err().to_string().contains("batch index"));
}
