"""Deformable convolution layers of ``mx.gluon.contrib.cnn``, as MXNet 1.9.1's
``python/mxnet/gluon/contrib/cnn/conv_layers.py`` defines them.

Each layer holds the convolution that predicts the offsets (``offset_weight``,
``offset_bias``, zero-initialized, so a fresh layer starts as a plain convolution) and the
deformable convolution's own ``deformable_conv_weight`` and ``deformable_conv_bias``. The
deformable weight's input-channel dimension is always inferred from the data on the first
forward call (MXNet declares it as 0). ``ModulatedDeformableConvolution`` splits the predicted
channels into offsets and a mask ``2 * sigmoid(m)``.
"""

from __future__ import annotations

from typing import Any

from mxrs.gluon.block import HybridBlock
from mxrs.gluon.nn import Activation

__all__ = ["DeformableConvolution", "ModulatedDeformableConvolution"]


def _pair(value: Any, n: int) -> tuple[int, ...]:
    return (int(value),) * n if isinstance(value, (int, float)) else tuple(int(v) for v in value)


class _DeformableBase(HybridBlock):
    """The constructor, parameters and attributes both deformable layers share (MXNet 1.9.1's
    arguments). Each layer names its op (``_OP_NAME``) and the offset-convolution channels per
    kernel tap and deformable group (``_PER_TAP``: 2, or 3 with a mask)."""

    _OP_NAME = ""
    _PER_TAP = 2

    def __init__(
        self,
        channels: int,
        kernel_size: Any = (1, 1),
        strides: Any = (1, 1),
        padding: Any = (0, 0),
        dilation: Any = (1, 1),
        groups: int = 1,
        num_deformable_group: int = 1,
        layout: str = "NCHW",
        use_bias: bool = True,
        in_channels: int = 0,
        activation: str | None = None,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        offset_weight_initializer: Any = "zeros",
        offset_bias_initializer: Any = "zeros",
        offset_use_bias: bool = True,
        op_name: str | None = None,
        adj: Any = None,
        prefix: str | None = None,
        params: Any = None,
    ) -> None:
        per_tap = self._PER_TAP
        op_name = op_name or self._OP_NAME
        super().__init__(prefix=prefix, params=params)
        with self.name_scope():
            self._channels = channels
            self._in_channels = in_channels
            assert layout in ("NCHW", "NHWC"), "Only supports 'NCHW' and 'NHWC' layout for now"
            kernel = _pair(kernel_size, 2)
            n = len(kernel)
            strides, padding, dilation = _pair(strides, n), _pair(padding, n), _pair(dilation, n)
            self._op_name = op_name
            offset_channels = per_tap * kernel[0] * kernel[1] * num_deformable_group
            self.offset_split_index = num_deformable_group * 2 * kernel[0] * kernel[1]
            common = {"kernel": kernel, "stride": strides, "dilate": dilation, "pad": padding, "num_group": groups}
            self._kwargs_offset = dict(common, num_filter=offset_channels, no_bias=not offset_use_bias, layout=layout)
            self._kwargs_deformable_conv = dict(
                common,
                num_filter=channels,
                num_deformable_group=num_deformable_group,
                no_bias=not use_bias,
                layout=layout,
            )
            if adj:
                self._kwargs_offset["adj"] = adj
                self._kwargs_deformable_conv["adj"] = adj
            if per_tap == 2:  # MXNet's parameter order differs between the two layers
                self._offset_params(
                    offset_channels,
                    in_channels,
                    groups,
                    kernel,
                    offset_weight_initializer,
                    offset_bias_initializer,
                    offset_use_bias,
                )
                self._conv_params(channels, kernel, weight_initializer, bias_initializer, use_bias)
            else:
                self._conv_params(channels, kernel, weight_initializer, bias_initializer, use_bias)
                self._offset_params(
                    offset_channels,
                    in_channels,
                    groups,
                    kernel,
                    offset_weight_initializer,
                    offset_bias_initializer,
                    offset_use_bias,
                )
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def _conv_params(
        self, channels: int, kernel: tuple, weight_initializer: Any, bias_initializer: Any, use_bias: bool
    ) -> None:
        self.deformable_conv_weight = self.params.get(
            "deformable_conv_weight",
            shape=(channels, 0) + kernel,
            init=weight_initializer,
            allow_deferred_init=True,
        )
        if use_bias:
            self.deformable_conv_bias = self.params.get(
                "deformable_conv_bias", shape=(channels,), init=bias_initializer, allow_deferred_init=True
            )
        else:
            self.deformable_conv_bias = None

    def _offset_params(
        self,
        offset_channels: int,
        in_channels: int,
        groups: int,
        kernel: tuple,
        offset_weight_initializer: Any,
        offset_bias_initializer: Any,
        offset_use_bias: bool,
    ) -> None:
        # MXNet infers these from a Convolution symbol over (1, in_channels, 0, 0) data.
        self.offset_weight = self.params.get(
            "offset_weight",
            shape=(offset_channels, in_channels // groups if in_channels else 0) + kernel,
            init=offset_weight_initializer,
            allow_deferred_init=True,
        )
        if offset_use_bias:
            self.offset_bias = self.params.get(
                "offset_bias", shape=(offset_channels,), init=offset_bias_initializer, allow_deferred_init=True
            )
        else:
            self.offset_bias = None

    def _offset(self, F: Any, x: Any, offset_weight: Any, offset_bias: Any) -> Any:
        if offset_bias is None:
            return F.Convolution(x, offset_weight, cudnn_off=True, **self._kwargs_offset)
        return F.Convolution(x, offset_weight, offset_bias, cudnn_off=True, **self._kwargs_offset)

    def _finish(self, act: Any) -> Any:
        return self.act(act) if self.act else act

    def __repr__(self) -> str:
        kw = self._kwargs_deformable_conv
        n = len(kw["kernel"])
        s = "{name}({mapping}, kernel_size={kernel}, stride={stride}"
        if kw["pad"] != (0,) * n:
            s += ", padding={pad}"
        if kw["dilate"] != (1,) * n:
            s += ", dilation={dilate}"
        if kw["num_group"] != 1:
            s += ", groups={num_group}"
        if self.deformable_conv_bias is None:
            s += ", bias=False"
        if self.act:
            s += ", {}".format(self.act)
        s += ")"
        shape = self.deformable_conv_weight.shape
        mapping = "{0} -> {1}".format(shape[1] if shape[1] else None, shape[0])
        return s.format(name=self.__class__.__name__, mapping=mapping, **kw)


class DeformableConvolution(_DeformableBase):
    """2-D deformable convolution v1 (Dai et al., 2017): a convolution (``offset_weight``,
    ``offset_bias``) predicts per-tap offsets, then ``contrib.DeformableConvolution`` samples
    the input at the shifted taps. Arguments as MXNet 1.9.1's layer."""

    _OP_NAME = "DeformableConvolution"
    _PER_TAP = 2

    def hybrid_forward(
        self,
        F: Any,
        x: Any,
        offset_weight: Any,
        deformable_conv_weight: Any,
        offset_bias: Any = None,
        deformable_conv_bias: Any = None,
    ) -> Any:
        offset = self._offset(F, x, offset_weight, offset_bias)
        kw = self._kwargs_deformable_conv
        if deformable_conv_bias is None:
            act = F.contrib.DeformableConvolution(
                data=x, offset=offset, weight=deformable_conv_weight, name="fwd", **kw
            )
        else:
            act = F.contrib.DeformableConvolution(
                data=x, offset=offset, weight=deformable_conv_weight, bias=deformable_conv_bias, name="fwd", **kw
            )
        return self._finish(act)

    def _alias(self) -> str:
        return "deformable_conv"


class ModulatedDeformableConvolution(_DeformableBase):
    """2-D modulated deformable convolution v2 (Zhu et al., 2018): the offset convolution also
    predicts a mask (``2 * sigmoid``) that scales each sampled tap. Arguments as MXNet 1.9.1's
    layer."""

    _OP_NAME = "ModulatedDeformableConvolution"
    _PER_TAP = 3

    def hybrid_forward(
        self,
        F: Any,
        x: Any,
        offset_weight: Any,
        deformable_conv_weight: Any,
        offset_bias: Any = None,
        deformable_conv_bias: Any = None,
    ) -> Any:
        offset = self._offset(F, x, offset_weight, offset_bias)
        offset_t = F.slice_axis(offset, axis=1, begin=0, end=self.offset_split_index)
        mask = F.slice_axis(offset, axis=1, begin=self.offset_split_index, end=None)
        mask = F.sigmoid(mask) * 2
        kw = self._kwargs_deformable_conv
        if deformable_conv_bias is None:
            act = F.contrib.ModulatedDeformableConvolution(
                data=x, offset=offset_t, mask=mask, weight=deformable_conv_weight, name="fwd", **kw
            )
        else:
            act = F.contrib.ModulatedDeformableConvolution(
                data=x,
                offset=offset_t,
                mask=mask,
                weight=deformable_conv_weight,
                bias=deformable_conv_bias,
                name="fwd",
                **kw,
            )
        return self._finish(act)

    def _alias(self) -> str:
        return "modulated_deformable_conv"
