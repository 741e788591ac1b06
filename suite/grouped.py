"""Stacked rounds without vmap: K rounds' layers as grouped convolutions and batched matmuls.

vmap runs a stacked model op by op, moving the round dimension in and out of every convolution (a copy of each
activation per layer) — for the small MNIST nets that copying, not arithmetic, bounds the step. Here the K rounds'
images travel together as one channels-last batch of K·C channels ("grouped" form, B×K·C×H×W), every convolution
is one grouped convolution with groups=K, and only where a layer chain flattens do they turn into the "rounds"
form (K×B×F) that batched matmuls read. A model opts in with a `forward_stacked(params, x)` method built from these
pieces (suite.parallel uses it instead of vmap); `params` are the stacked parameters by name, as
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


def rounds(x: torch.Tensor, k: int) -> torch.Tensor:
    """B×K·C×H×W → K×B×C·H·W: each round's features flattened in nn.Flatten's (C, H, W) order."""
    b, kc, h, w = x.shape
    return x.reshape(b, k, kc // k, h, w).transpose(0, 1).reshape(k, b, -1)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d) -> torch.Tensor:
    """Round k's convolution (weight[k], bias[k]) on its own channels of the grouped batch x."""
    k = weight.shape[0]
    return F.conv2d(x, weight.flatten(0, 1), None if bias is None else bias.flatten(), conv.stride, conv.padding,
                    conv.dilation, groups=k * conv.groups)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Round k's nn.Linear (weight[k]: out×in) on its rows x[k] (K×B×in → K×B×out)."""
    out = torch.bmm(x, weight.transpose(1, 2))
    return out if bias is None else out + bias.unsqueeze(1)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """F.dropout's result, with its mask drawn by torch.rand: on a CPU, bernoulli_ draws one number at a time
    (2.6× slower for the MNIST net's masks)."""
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    return x * (torch.rand_like(x) >= p) / (1 - p)


class _SigmoidTanh(torch.autograd.Function):
    """tanh(x) = 2σ(2x) − 1 (within 2e-7 of torch.tanh): on a CPU, torch.tanh (SLEEF's 1-ulp kernel) is 3–6×
    slower than sigmoid and was 40 % of the MNIST Siamese net's stacked step on an AVX-512 CPU."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.sigmoid(x * 2).mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """torch.tanh's values; through sigmoid on a CPU (see _SigmoidTanh)."""
    return _SigmoidTanh.apply(x) if x.device.type == "cpu" else torch.tanh(x)


def sequential(chain: nn.Sequential, params: dict[str, torch.Tensor], prefix: str, x: torch.Tensor,
               k: int, training: bool) -> torch.Tensor:
    """Run an nn.Sequential of the supported layers on stacked rounds: x in grouped form (4-d) or rounds form
    (3-d); Flatten turns the first into the second. Raises TypeError for a layer it cannot stack."""
    for name, layer in chain.named_children():
        key = f"{prefix}.{name}" if prefix else name
        weight, bias = params.get(f"{key}.weight"), params.get(f"{key}.bias")
        if isinstance(layer, nn.Conv2d) and x.dim() == 4:
            x = conv2d(x, weight, bias, layer)
        elif isinstance(layer, nn.Linear) and x.dim() == 3:
            x = linear(x, weight, bias)
        elif isinstance(layer, nn.Flatten) and x.dim() == 4:
            x = rounds(x, k)
        elif isinstance(layer, nn.AvgPool2d) and x.dim() == 4:
            x = F.avg_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode,
                             layer.count_include_pad, layer.divisor_override)
        elif isinstance(layer, nn.MaxPool2d) and x.dim() == 4:
            x = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
        elif isinstance(layer, nn.Dropout):
            x = dropout(x, layer.p, training)
        elif isinstance(layer, nn.Tanh):
            x = tanh(x)
        elif isinstance(layer, ELEMENTWISE):
            x = layer(x)
        else:
            raise TypeError(f"suite.grouped: cannot stack {type(layer).__name__} on a {x.dim()}-d input")
    return x
