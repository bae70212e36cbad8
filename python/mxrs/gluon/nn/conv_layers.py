"""Convolution and pooling layers of ``mxrs.gluon.nn``, as MXNet 1.9.1's Gluon defines them.

Each layer is a :class:`~mxrs.gluon.HybridBlock` over the registry's ``Convolution``,
``Deconvolution`` and ``Pooling`` ops, so it runs imperatively and traced into a Symbol graph
alike. ``in_channels=0`` defers the weight's input-channel dimension to the first forward call.
Layouts are channel-first (``NCW``, ``NCHW``, ``NCDHW``) as on MXNet's CPU; the ops compute
1-D, 2-D and 3-D windows, so the 3-D layers run imperatively and hybridized like the others.
``ReflectionPad2D`` pads with the ``Pad`` op in reflect mode.
"""

from __future__ import annotations

from typing import Any

from mxrs.gluon.block import HybridBlock

__all__ = [
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "ReflectionPad2D",
]

_LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def _tuple(value: Any, n: int, what: str) -> tuple[int, ...]:
    """Expand an int to an n-tuple; check a given tuple's length."""
    if isinstance(value, int):
        return (value,) * n
    out = tuple(int(v) for v in value)
    if len(out) != n:
        raise ValueError("%s must be an int or a tuple of %d ints, got %r" % (what, n, value))
    return out


def _check_layout(layout: str, n: int) -> None:
    if layout not in _LAYOUTS[n]:
        raise ValueError("%d-D layers take layout %s, got %r" % (n, " or ".join(_LAYOUTS[n]), layout))


class _Conv(HybridBlock):
    """N-D convolution (or its transpose) with an optional bias and activation.

    Parameters follow MXNet: ``channels`` output channels, ``kernel_size``, ``strides``,
    ``padding``, ``dilation``, ``groups``, ``layout``, ``in_channels`` (0 = deferred),
    ``activation`` (an ``Activation`` act_type or None), ``use_bias``, ``weight_initializer``,
    ``bias_initializer``.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: Any,
        strides: Any,
        padding: Any,
        dilation: Any,
        groups: int,
        layout: str,
        in_channels: int = 0,
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        op_name: str = "Convolution",
        adj: Any = None,
        prefix: str | None = None,
        params: Any = None,
    ) -> None:
        super().__init__(prefix=prefix, params=params)
        with self.name_scope():
            n = len(layout) - 2
            self._channels = channels
            self._in_channels = in_channels
            self._op_name = op_name
            self._act_type = activation
            self._kwargs: dict[str, Any] = {
                "kernel": _tuple(kernel_size, n, "kernel_size"),
                "stride": _tuple(strides, n, "strides"),
                "dilate": _tuple(dilation, n, "dilation"),
                "pad": _tuple(padding, n, "padding"),
                "num_filter": channels,
                "num_group": groups,
                "no_bias": not use_bias,
                "layout": layout,
            }
            if adj is not None:
                self.out_pad = _tuple(adj, n, "output_padding")
                self._kwargs["adj"] = self.out_pad
            kernel = self._kwargs["kernel"]
            if op_name == "Convolution":
                wshape = (channels, in_channels // groups if in_channels else 0) + kernel
            else:
                wshape = (in_channels, channels // groups) + kernel
            self.weight = self.params.get("weight", shape=wshape, init=weight_initializer, allow_deferred_init=True)
            if use_bias:
                self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer, allow_deferred_init=True)
            else:
                self.bias = None

    def hybrid_forward(self, F: Any, x: Any, weight: Any, bias: Any = None) -> Any:
        op = getattr(F, self._op_name)
        if bias is None:
            out = op(x, weight, name="fwd", **self._kwargs)
        else:
            out = op(x, weight, bias, name="fwd", **self._kwargs)
        if self._act_type is not None:
            out = F.Activation(out, act_type=self._act_type, name=self._act_type + "_fwd")
        return out

    def _alias(self) -> str:
        return "conv"

    def __repr__(self) -> str:
        kw = self._kwargs
        n = len(kw["kernel"])
        s = "%s(%s -> %s, kernel_size=%s, stride=%s" % (
            type(self).__name__,
            self.weight.shape[1] or None,
            self.weight.shape[0],
            kw["kernel"],
            kw["stride"],
        )
        if kw["pad"] != (0,) * n:
            s += ", padding=%s" % (kw["pad"],)
        if kw["dilate"] != (1,) * n:
            s += ", dilation=%s" % (kw["dilate"],)
        if kw["num_group"] != 1:
            s += ", groups=%d" % kw["num_group"]
        if self.bias is None:
            s += ", bias=False"
        if self._act_type:
            s += ", Activation(%s)" % self._act_type
        return s + ")"


class Conv1D(_Conv):
    """1-D convolution (MXNet's ``gluon.nn.Conv1D``); input layout NCW."""

    def __init__(
        self,
        channels: int,
        kernel_size: Any,
        strides: Any = (1,),
        padding: Any = (0,),
        dilation: Any = (1,),
        groups: int = 1,
        layout: str = "NCW",
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        in_channels: int = 0,
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, 1)
        _tuple(kernel_size, 1, "kernel_size")
        super().__init__(
            channels,
            kernel_size,
            strides,
            padding,
            dilation,
            groups,
            layout,
            in_channels,
            activation,
            use_bias,
            weight_initializer,
            bias_initializer,
            **kwargs,
        )


class Conv1DTranspose(_Conv):
    """1-D transposed convolution (MXNet's ``gluon.nn.Conv1DTranspose``); layout NCW."""

    def __init__(
        self,
        channels: int,
        kernel_size: Any,
        strides: Any = (1,),
        padding: Any = (0,),
        output_padding: Any = (0,),
        dilation: Any = (1,),
        groups: int = 1,
        layout: str = "NCW",
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        in_channels: int = 0,
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, 1)
        _tuple(kernel_size, 1, "kernel_size")
        super().__init__(
            channels,
            kernel_size,
            strides,
            padding,
            dilation,
            groups,
            layout,
            in_channels,
            activation,
            use_bias,
            weight_initializer,
            bias_initializer,
            op_name="Deconvolution",
            adj=output_padding,
            **kwargs,
        )


class Conv2D(_Conv):
    """2-D convolution (MXNet's ``gluon.nn.Conv2D``); input layout NCHW."""

    def __init__(
        self,
        channels: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: Any = (0, 0),
        dilation: Any = (1, 1),
        groups: int = 1,
        layout: str = "NCHW",
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        in_channels: int = 0,
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, 2)
        _tuple(kernel_size, 2, "kernel_size")
        super().__init__(
            channels,
            kernel_size,
            strides,
            padding,
            dilation,
            groups,
            layout,
            in_channels,
            activation,
            use_bias,
            weight_initializer,
            bias_initializer,
            **kwargs,
        )


class Conv2DTranspose(_Conv):
    """2-D transposed convolution (MXNet's ``gluon.nn.Conv2DTranspose``); layout NCHW."""

    def __init__(
        self,
        channels: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: Any = (0, 0),
        output_padding: Any = (0, 0),
        dilation: Any = (1, 1),
        groups: int = 1,
        layout: str = "NCHW",
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        in_channels: int = 0,
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, 2)
        _tuple(kernel_size, 2, "kernel_size")
        super().__init__(
            channels,
            kernel_size,
            strides,
            padding,
            dilation,
            groups,
            layout,
            in_channels,
            activation,
            use_bias,
            weight_initializer,
            bias_initializer,
            op_name="Deconvolution",
            adj=output_padding,
            **kwargs,
        )


class Conv3D(_Conv):
    """3-D convolution (MXNet's ``gluon.nn.Conv3D``); input layout NCDHW."""

    def __init__(
        self,
        channels: int,
        kernel_size: Any,
        strides: Any = (1, 1, 1),
        padding: Any = (0, 0, 0),
        dilation: Any = (1, 1, 1),
        groups: int = 1,
        layout: str = "NCDHW",
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        in_channels: int = 0,
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, 3)
        _tuple(kernel_size, 3, "kernel_size")
        super().__init__(
            channels,
            kernel_size,
            strides,
            padding,
            dilation,
            groups,
            layout,
            in_channels,
            activation,
            use_bias,
            weight_initializer,
            bias_initializer,
            **kwargs,
        )


class Conv3DTranspose(_Conv):
    """3-D transposed convolution (MXNet's ``gluon.nn.Conv3DTranspose``); layout NCDHW."""

    def __init__(
        self,
        channels: int,
        kernel_size: Any,
        strides: Any = (1, 1, 1),
        padding: Any = (0, 0, 0),
        output_padding: Any = (0, 0, 0),
        dilation: Any = (1, 1, 1),
        groups: int = 1,
        layout: str = "NCDHW",
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        in_channels: int = 0,
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, 3)
        _tuple(kernel_size, 3, "kernel_size")
        super().__init__(
            channels,
            kernel_size,
            strides,
            padding,
            dilation,
            groups,
            layout,
            in_channels,
            activation,
            use_bias,
            weight_initializer,
            bias_initializer,
            op_name="Deconvolution",
            adj=output_padding,
            **kwargs,
        )


class _Pooling(HybridBlock):
    """Max/avg pooling over an n-D window (``ceil_mode`` is MXNet's 'full' convention)."""

    _ndim = 2

    def __init__(
        self,
        pool_size: Any,
        strides: Any,
        padding: Any,
        ceil_mode: bool,
        global_pool: bool,
        pool_type: str,
        layout: str,
        count_include_pad: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        n = self._ndim
        _check_layout(layout, n)
        if strides is None:
            strides = pool_size
        self._kwargs: dict[str, Any] = {
            "kernel": _tuple(pool_size, n, "pool_size"),
            "stride": _tuple(strides, n, "strides"),
            "pad": _tuple(padding, n, "padding"),
            "global_pool": global_pool,
            "pool_type": pool_type,
            "layout": layout,
            "pooling_convention": "full" if ceil_mode else "valid",
        }
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def _alias(self) -> str:
        return "pool"

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return F.Pooling(x, name="fwd", **self._kwargs)

    def __repr__(self) -> str:
        kw = self._kwargs
        return "%s(size=%s, stride=%s, padding=%s, ceil_mode=%s, global_pool=%s, pool_type=%s, layout=%s)" % (
            type(self).__name__,
            kw["kernel"],
            kw["stride"],
            kw["pad"],
            kw["pooling_convention"] == "full",
            kw["global_pool"],
            kw["pool_type"],
            kw["layout"],
        )


class MaxPool1D(_Pooling):
    """1-D max pooling (MXNet's ``gluon.nn.MaxPool1D``); ``strides=None`` means pool_size."""

    _ndim = 1

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: Any = 0,
        layout: str = "NCW",
        ceil_mode: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode, False, "max", layout, None, **kwargs)


class AvgPool1D(_Pooling):
    """1-D average pooling (MXNet's ``gluon.nn.AvgPool1D``); ``count_include_pad`` counts
    the zero padding in each window's divisor."""

    _ndim = 1

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: Any = 0,
        layout: str = "NCW",
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode, False, "avg", layout, count_include_pad, **kwargs)


class GlobalMaxPool1D(_Pooling):
    """Global 1-D max pooling (MXNet's ``gluon.nn.GlobalMaxPool1D``): spatial size 1."""

    _ndim = 1

    def __init__(self, layout: str = "NCW", **kwargs: Any) -> None:
        super().__init__((1,) * 1, None, 0, True, True, "max", layout, **kwargs)


class GlobalAvgPool1D(_Pooling):
    """Global 1-D average pooling (MXNet's ``gluon.nn.GlobalAvgPool1D``): spatial size 1."""

    _ndim = 1

    def __init__(self, layout: str = "NCW", **kwargs: Any) -> None:
        super().__init__((1,) * 1, None, 0, True, True, "avg", layout, **kwargs)


class MaxPool2D(_Pooling):
    """2-D max pooling (MXNet's ``gluon.nn.MaxPool2D``); ``strides=None`` means pool_size."""

    _ndim = 2

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: Any = (0, 0),
        layout: str = "NCHW",
        ceil_mode: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode, False, "max", layout, None, **kwargs)


class AvgPool2D(_Pooling):
    """2-D average pooling (MXNet's ``gluon.nn.AvgPool2D``); ``count_include_pad`` counts
    the zero padding in each window's divisor."""

    _ndim = 2

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: Any = (0, 0),
        layout: str = "NCHW",
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode, False, "avg", layout, count_include_pad, **kwargs)


class GlobalMaxPool2D(_Pooling):
    """Global 2-D max pooling (MXNet's ``gluon.nn.GlobalMaxPool2D``): spatial size 1."""

    _ndim = 2

    def __init__(self, layout: str = "NCHW", **kwargs: Any) -> None:
        super().__init__((1,) * 2, None, 0, True, True, "max", layout, **kwargs)


class GlobalAvgPool2D(_Pooling):
    """Global 2-D average pooling (MXNet's ``gluon.nn.GlobalAvgPool2D``): spatial size 1."""

    _ndim = 2

    def __init__(self, layout: str = "NCHW", **kwargs: Any) -> None:
        super().__init__((1,) * 2, None, 0, True, True, "avg", layout, **kwargs)


class MaxPool3D(_Pooling):
    """3-D max pooling (MXNet's ``gluon.nn.MaxPool3D``); ``strides=None`` means pool_size."""

    _ndim = 3

    def __init__(
        self,
        pool_size: Any = (2, 2, 2),
        strides: Any = None,
        padding: Any = (0, 0, 0),
        layout: str = "NCDHW",
        ceil_mode: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode, False, "max", layout, None, **kwargs)


class AvgPool3D(_Pooling):
    """3-D average pooling (MXNet's ``gluon.nn.AvgPool3D``); ``count_include_pad`` counts
    the zero padding in each window's divisor."""

    _ndim = 3

    def __init__(
        self,
        pool_size: Any = (2, 2, 2),
        strides: Any = None,
        padding: Any = (0, 0, 0),
        layout: str = "NCDHW",
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode, False, "avg", layout, count_include_pad, **kwargs)


class GlobalMaxPool3D(_Pooling):
    """Global 3-D max pooling (MXNet's ``gluon.nn.GlobalMaxPool3D``): spatial size 1."""

    _ndim = 3

    def __init__(self, layout: str = "NCDHW", **kwargs: Any) -> None:
        super().__init__((1,) * 3, None, 0, True, True, "max", layout, **kwargs)


class GlobalAvgPool3D(_Pooling):
    """Global 3-D average pooling (MXNet's ``gluon.nn.GlobalAvgPool3D``): spatial size 1."""

    _ndim = 3

    def __init__(self, layout: str = "NCDHW", **kwargs: Any) -> None:
        super().__init__((1,) * 3, None, 0, True, True, "avg", layout, **kwargs)


class ReflectionPad2D(HybridBlock):
    """Pads the two spatial axes of NCHW data by reflecting it at the borders (the ``Pad`` op,
    mode 'reflect').

    ``padding`` is an int (every side) or MXNet's 8-tuple ``pad_width``, two entries per axis
    (the first four, for N and C, are 0).
    """

    def __init__(self, padding: Any = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (0, 0, 0, 0, padding, padding, padding, padding)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 8:
            raise ValueError("ReflectionPad2D: padding must be an int or 8 ints, got %r" % (padding,))
        self._padding = padding

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return F.pad(x, mode="reflect", pad_width=self._padding)
