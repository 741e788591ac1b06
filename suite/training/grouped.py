"""Stacked rounds without vmap: K rounds' layers as grouped convolutions and batched matmuls.

vmap runs a stacked model op by op, moving the round dimension in and out of every convolution (a copy of each
activation per layer) — for the small MNIST nets that copying, not arithmetic, bounds the step. Here the K rounds'
images travel together as one channels-last batch of K·C channels ("grouped" form, B×K·C×H×W), every convolution
is one grouped convolution with groups=K, and only where a layer chain flattens do they turn into the "rounds"
form (K×B×F) that batched matmuls read. A model opts in with a `forward_stacked(params, x)` method built from these
pieces (suite.training.steppers uses it instead of vmap); `params` are the stacked parameters by name, as
torch.func.stack_module_state gives them, so gradients reach each round's slice.
"""

import torch
import torch.nn.functional as F
from torch import nn

# Layers applied as they are in either form: elementwise, so rounds never mix (Tanh and Dropout are too, but have
# faster CPU versions below).
ELEMENTWISE = (nn.ReLU, nn.Sigmoid)


def grouped(x: torch.Tensor) -> torch.Tensor:
    """K×B×C×H×W (each round's own images) → B×K·C×H×W, channels-last, for grouped convolutions."""
    k, b, c, h, w = x.shape
    return x.permute(1, 0, 2, 3, 4).reshape(b, k * c, h, w).contiguous(memory_format=torch.channels_last)


class _Rounds(torch.autograd.Function):
    """B×K·C×H×W → K×B×C·H·W, whose gradient goes back channels-last like its input: autograd's own reshape
    backward hands the layer before (average pooling, on the MNIST net) a contiguous gradient, and
    avg_pool2d_backward's kernel for a channels-last input with a contiguous gradient is much slower on a CPU
    (docs/benchmarks.md)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int) -> torch.Tensor:
        b, kc, h, w = x.shape
        ctx.shape = x.shape
        return x.reshape(b, k, kc // k, h, w).transpose(0, 1).reshape(k, b, -1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        b, kc, h, w = ctx.shape
        k = grad.shape[0]
        grad = grad.reshape(k, b, kc // k, h, w).transpose(0, 1).reshape(b, kc, h, w)
        return grad.contiguous(memory_format=torch.channels_last), None


def rounds(x: torch.Tensor, k: int) -> torch.Tensor:
    """B×K·C×H×W → K×B×C·H·W: each round's features flattened in nn.Flatten's (C, H, W) order."""
    return _Rounds.apply(x, k)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d) -> torch.Tensor:
    """Round k's convolution (weight[k], bias[k]) on its own channels of the grouped batch x."""
    k = weight.shape[0]
    if (x.device.type == "cpu" and conv.groups == 1 and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str) and not x.requires_grad and torch.is_grad_enabled()):
        if torch.is_autocast_enabled("cpu"):  # cast here: autocast leaves a custom Function's inputs alone
            dtype = torch.get_autocast_dtype("cpu")
            x, weight, bias = x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)
        return _DataConv.apply(x, weight, bias, conv.stride, conv.padding)
    return F.conv2d(x, weight.flatten(0, 1), None if bias is None else bias.flatten(), conv.stride, conv.padding,
                    conv.dilation, groups=k * conv.groups)


class _DataConv(torch.autograd.Function):
    """The grouped convolution of the data (an input that needs no gradient), its weight gradient computed as one
    batched matrix product of each round's input patches with its output gradient: on a CPU faster than oneDNN's
    grouped backward for few input channels, whose patches are small to copy (docs/benchmarks.md). Zero padding,
    no dilation."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x)
        ctx.geometry = (weight.shape, stride, padding, bias is not None)
        return F.conv2d(x, weight.flatten(0, 1), None if bias is None else bias.flatten(), stride, padding,
                        groups=weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        shape, stride, padding, has_bias = ctx.geometry
        k, out, c, kh, kw = shape
        b = x.shape[0]
        if any(padding):
            x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
        # each round's patches, K × C·kh·kw × B·OH·OW: one copy out of a strided view (cheaper than F.unfold)
        windows = x.to(grad.dtype).unflatten(1, (k, c)).unfold(3, kh, stride[0]).unfold(4, kw, stride[1])
        pixels = windows.shape[3] * windows.shape[4]
        patches = windows.permute(1, 2, 5, 6, 0, 3, 4).reshape(k, c * kh * kw, b * pixels)
        # K × B·OH·OW × O: for a channels-last gradient a strided view, no copy
        rows = grad.permute(0, 2, 3, 1).reshape(b * pixels, k, out).transpose(0, 1)
        grad_weight = torch.bmm(patches, rows).transpose(1, 2).reshape(shape)
        grad_bias = grad.sum((0, 2, 3)).view(k, out) if has_bias else None
        return None, grad_weight, grad_bias, None, None


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Round k's nn.Linear (weight[k]: out×in) on its rows x[k] (K×B×in → K×B×out)."""
    out = torch.bmm(x, weight.transpose(1, 2))
    return out if bias is None else out + bias.unsqueeze(1)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """F.dropout's result, its mask drawn as 16-bit integers, four from each 64-bit draw of torch.randint: on a CPU,
    torch's generator fills one number at a time, and this takes a quarter of torch.rand's draws
    (docs/benchmarks.md). An input is dropped with
    probability q = round(65536·p)/65536 (within 8·10⁻⁶ of p) and the kept ones scaled by 1/(1 − q), so the
    expectation is exactly x's."""
    if not training or p == 0:
        return x
    dropped = round(p * 65536)
    if dropped == 65536:
        return torch.zeros_like(x)
    draws = torch.randint(-2**63, 2**63 - 1, ((x.numel() + 3) // 4,), dtype=torch.int64, device=x.device)
    lanes = draws.view(torch.int16)[:x.numel()].view(x.shape)  # each 16-bit lane uniform on [-32768, 32767]
    return x * (lanes >= dropped - 32768) / (1 - dropped / 65536)


# tanh on a CPU: torch.tanh (SLEEF's 1-ulp kernel) is several times slower there than torch.sigmoid, so a tanh is
# computed as
# tanh(z) = 2σ(2z) − 1, with both affine steps folded into the layers around it instead of costing passes over the
# activation (the MNIST net's first tanh reads the step's largest tensor): the 2z by doubling the weights and bias of
# the layer before, the 2s − 1 by carrying it as "owed" through layers it commutes with (flatten, unpadded
# average pooling, dropout in evaluation) into the next unpadded convolution or linear layer, whose weights take it
# exactly: W(2s − 1) + b = (2W)s + (b − ΣW). Anything else settles the debt first.
Owed = tuple[float, float]  # (scale, shift): the activation is scale·x + shift


def _settle(x: torch.Tensor, owed: Owed | None) -> torch.Tensor:
    return x if owed is None else x.mul(owed[0]).add_(owed[1])


def _fold(weight: torch.Tensor, bias: torch.Tensor | None, owed: Owed | None, scale: float,
          dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stacked weight and bias of a layer that reads scale·x + shift (owed) instead of x, times `scale`."""
    if owed is not None:
        shift = owed[1] * weight.sum(dims)  # per round and output: what the constant shift adds
        weight, bias = weight * owed[0], shift if bias is None else bias + shift
    if scale != 1:
        weight, bias = weight * scale, None if bias is None else bias * scale
    return weight, bias


def _unpadded(layer: nn.Module) -> bool:
    padding = layer.padding
    if isinstance(padding, str):
        return padding == "valid"
    return not any(padding if isinstance(padding, tuple) else (padding,))


def sequential(chain: nn.Sequential, params: dict[str, torch.Tensor], prefix: str, x: torch.Tensor,
               k: int, training: bool) -> torch.Tensor:
    """Run an nn.Sequential of the supported layers on stacked rounds: x in grouped form (4-d) or rounds form
    (3-d); Flatten turns the first into the second. Raises TypeError for a layer it cannot stack."""
    layers = list(chain.named_children())
    owed: Owed | None = None
    doubled = False  # the last layer's weights were doubled for the tanh that follows it
    for i, (name, layer) in enumerate(layers):
        key = f"{prefix}.{name}" if prefix else name
        weight, bias = params.get(f"{key}.weight"), params.get(f"{key}.bias")
        feeds_tanh = x.device.type == "cpu" and i + 1 < len(layers) and isinstance(layers[i + 1][1], nn.Tanh)
        scale = 2.0 if feeds_tanh else 1.0
        if isinstance(layer, nn.Conv2d) and x.dim() == 4:
            if not _unpadded(layer):  # padding would add zeros where the owed shift belongs
                x, owed = _settle(x, owed), None
            weight, bias = _fold(weight, bias, owed, scale, (2, 3, 4))
            x, owed, doubled = conv2d(x, weight, bias, layer), None, feeds_tanh
            continue
        if isinstance(layer, nn.Linear) and x.dim() == 3:
            weight, bias = _fold(weight, bias, owed, scale, (2,))
            x, owed, doubled = linear(x, weight, bias), None, feeds_tanh
            continue
        commutes = (isinstance(layer, nn.Flatten) or (isinstance(layer, nn.AvgPool2d) and _unpadded(layer)
                                                        and layer.divisor_override is None)
                    or (isinstance(layer, nn.Dropout) and not (training and layer.p > 0)))
        if not commutes:
            x, owed = _settle(x, owed), None
        if isinstance(layer, nn.Flatten) and x.dim() == 4:
            x = rounds(x, k)
        elif isinstance(layer, nn.AvgPool2d) and x.dim() == 4:
            x = F.avg_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode,
                             layer.count_include_pad, layer.divisor_override)
        elif isinstance(layer, nn.MaxPool2d) and x.dim() == 4:
            x = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
        elif isinstance(layer, nn.Dropout):
            x = dropout(x, layer.p, training)
        elif isinstance(layer, nn.Tanh) and x.device.type == "cpu":
            x, owed = torch.sigmoid(x if doubled else x * 2), (2.0, -1.0)
        elif isinstance(layer, (nn.Tanh, *ELEMENTWISE)):
            x = layer(x)
        else:
            raise TypeError(f"suite.training.grouped: cannot stack {type(layer).__name__} on a {x.dim()}-d input")
        doubled = False
    return _settle(x, owed)
