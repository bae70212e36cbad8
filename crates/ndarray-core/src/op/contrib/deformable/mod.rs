//! Deformable and position-sensitive ops: `_contrib_DeformableConvolution`,
//! `_contrib_ModulatedDeformableConvolution` (`conv.rs`, sampling in `sampler.rs`),
//! `_contrib_PSROIPooling`, `_contrib_DeformablePSROIPooling` (`psroi.rs`) and FlowNet's
//! `Correlation` (`correlation.rs`), each with a backward op, as MXNet 1.9.1 computes them.

mod conv;
mod correlation;
mod psroi;
mod sampler;
#[cfg(test)]
mod tests;

use super::super::registry::Registry;
use super::add;
use conv::DeformConv;
use correlation::Correlation;
use psroi::PsRoi;

/// Register the deformable convolutions, the position-sensitive poolings and `Correlation`.
pub(super) fn register(r: &mut Registry) {
    let dcn_in: &[&str] = &["data", "offset", "weight", "bias"];
    let dcn_bwd_in: &[&str] = &["out_grad", "data", "offset", "weight"];
    let doc = "deformable convolution v1 of NCHW data: kernel taps moved by learned offsets";
    add(r, conv::DCN, dcn_in, conv::PARAMS, doc, |a| DeformConv::parse(a, false, false));
    let doc = "gradients of DeformableConvolution's inputs";
    add(r, conv::DCN_BWD, dcn_bwd_in, conv::PARAMS, doc, |a| DeformConv::parse(a, false, true));
    r.set_gradient(conv::DCN, conv::grad_dcn);

    let mdcn_in: &[&str] = &["data", "offset", "mask", "weight", "bias"];
    let mdcn_bwd_in: &[&str] = &["out_grad", "data", "offset", "mask", "weight"];
    let doc = "modulated deformable convolution (v2) of NCHW data: offset taps scaled by a mask";
    add(r, conv::MDCN, mdcn_in, conv::MOD_PARAMS, doc, |a| DeformConv::parse(a, true, false));
    let doc = "gradients of ModulatedDeformableConvolution's inputs";
    add(r, conv::MDCN_BWD, mdcn_bwd_in, conv::MOD_PARAMS, doc, |a| DeformConv::parse(a, true, true));
    r.set_gradient(conv::MDCN, conv::grad_mdcn);

    let doc = "position-sensitive ROI average pooling (R-FCN)";
    add(r, psroi::PS, &["data", "rois"], psroi::PS_PARAMS, doc, |a| PsRoi::parse(a, false, false));
    let (bwd_in, doc): (&[&str], _) = (&["out_grad", "data", "rois"], "gradients of PSROIPooling's inputs");
    add(r, psroi::PS_BWD, bwd_in, psroi::PS_PARAMS, doc, |a| PsRoi::parse(a, false, true));
    r.set_gradient(psroi::PS, psroi::grad_ps);

    let doc = "deformable position-sensitive ROI pooling: bins moved by trans, sampled bilinearly";
    let dps_in: &[&str] = &["data", "rois", "trans"];
    add(r, psroi::DPS, dps_in, psroi::DPS_PARAMS, doc, |a| PsRoi::parse(a, true, false));
    let (bwd_in, doc): (&[&str], _) =
        (&["out_grad", "data", "rois", "trans"], "gradients of DeformablePSROIPooling's inputs");
    add(r, psroi::DPS_BWD, bwd_in, psroi::DPS_PARAMS, doc, |a| PsRoi::parse(a, true, true));
    r.set_gradient(psroi::DPS, psroi::grad_dps);

    let doc = "FlowNet's correlation of two NCHW feature maps over a neighbourhood of displacements";
    let corr = correlation::PARAMS;
    add(r, correlation::CORR, &["data1", "data2"], corr, doc, |a| Correlation::parse(a, false));
    let (bwd_in, doc): (&[&str], _) = (&["out_grad", "data1", "data2"], "gradients of Correlation's inputs");
    add(r, correlation::CORR_BWD, bwd_in, corr, doc, |a| Correlation::parse(a, true));
    r.set_gradient(correlation::CORR, correlation::grad_corr);
}
