"""``mx.gluon.contrib.cnn``: MXNet 1.9.1's deformable convolution layers."""

from mxrs.gluon.contrib.cnn.conv_layers import DeformableConvolution, ModulatedDeformableConvolution

__all__ = ["DeformableConvolution", "ModulatedDeformableConvolution"]
