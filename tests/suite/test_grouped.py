"""suite.training.grouped: K rounds' layer chains as grouped convolutions and batched matmuls."""

import pytest
import torch
from torch import nn
from torch.func import stack_module_state

from suite.training import grouped


def chains(k: int) -> list[nn.Sequential]:
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        out.append(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                                 nn.Flatten(), nn.Linear(4 * 2 * 2, 5), nn.Sigmoid()).eval())
    return out


def test_a_chain_of_stacked_rounds_equals_each_round_alone():
    models = chains(3)
    params, _ = stack_module_state(models)
    x = torch.randn(3, 6, 3, 8, 8)  # each round its own 6 images
    out = grouped.sequential(models[0], params, "", grouped.grouped(x), 3, training=False)
    assert out.shape == (3, 6, 5)
    for k, model in enumerate(models):
        assert torch.allclose(out[k], model(x[k]), atol=1e-6)


def test_a_layer_it_cannot_stack_is_named():
    model = nn.Sequential(nn.BatchNorm2d(3))
    params, _ = stack_module_state([model, model])
    with pytest.raises(TypeError, match="cannot stack BatchNorm2d"):
        grouped.sequential(model, params, "", torch.zeros(1, 6, 4, 4), 2, training=True)


def tanh_chains(k: int, padding: int, training: bool = False) -> list[nn.Sequential]:
    """The MNIST branch's shape of chain (tanh after convolutions and linear layers, pooling and dropout between),
    with the first layer's bias off to reach that case too."""
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        out.append(nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.Tanh(), nn.AvgPool2d(2),
                                 nn.Conv2d(4, 6, 3, padding=padding), nn.Tanh(), nn.AvgPool2d(2), nn.Dropout(0.0),
                                 nn.Flatten(), nn.Linear(6 * (2 + padding) ** 2, 5),  # 14 → 12 → 6 → 4 + 2p → 2 + p
                                 nn.Tanh(), nn.Tanh(), nn.Linear(5, 3), nn.Tanh()).train(training))
    return out


@pytest.mark.parametrize("padding", [0, 2])  # unpadded: the tanh's affine part folds into the next conv's weights
@pytest.mark.parametrize("training", [False, True])
def test_tanhs_through_sigmoids_give_each_rounds_values_and_gradients(padding, training):
    models = tanh_chains(3, padding, training)
    params, _ = stack_module_state(models)
    x = torch.randn(3, 4, 1, 14, 14) * 3
    out = grouped.sequential(models[0], params, "", grouped.grouped(x), 3, training=training)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    for k, model in enumerate(models):
        expected = model(x[k])
        assert (out[k] - expected).abs().max() < 1e-5
        (expected * weights[k]).sum().backward()
        for name, parameter in model.named_parameters():
            assert torch.allclose(params[name].grad[k], parameter.grad, atol=1e-5), name


def test_dropout_after_a_tanh_drops_the_tanh_not_the_sigmoid_under_it():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Dropout(0.5), nn.Flatten())
    params, _ = stack_module_state([model, model])
    x = torch.randn(2, 8, 1, 6, 6)
    out = grouped.sequential(model, params, "", grouped.grouped(x), 2, training=True)
    expected = torch.stack([model.eval()(x[k]) for k in range(2)]) / 0.5
    kept = out != 0
    assert 0.3 < kept.float().mean() < 0.7
    assert torch.allclose(out[kept], expected[kept], atol=1e-5)


def test_dropout_keeps_about_1_minus_p_of_its_inputs_scaled_and_is_off_in_evaluation():
    x = torch.ones(200_000)
    kept = grouped.dropout(x, 0.3, training=True)
    assert torch.allclose(kept[kept > 0], torch.tensor(1 / 0.7))
    assert (kept > 0).float().mean().item() == pytest.approx(0.7, abs=0.01)
    assert grouped.dropout(x, 0.3, training=False) is x
    assert not grouped.dropout(x, 1.0, training=True).any()


def test_dropout_drops_each_position_at_rate_p_whatever_its_lane_in_the_64_bit_draw():
    x = torch.ones(4_000_003)  # not a multiple of four: the last draw is cut
    kept = grouped.dropout(x, 0.3, training=True) > 0
    for lane in range(4):
        assert kept[lane::4].float().mean().item() == pytest.approx(0.7, abs=0.002)
    torch.manual_seed(1)
    first = grouped.dropout(x[:1000], 0.5, training=True)
    torch.manual_seed(1)
    assert torch.equal(first, grouped.dropout(x[:1000], 0.5, training=True))  # drawn from torch's global stream
    assert not torch.equal(first, grouped.dropout(x[:1000], 0.5, training=True))


def test_flattening_rounds_sends_the_gradient_back_channels_last_and_unchanged():
    x = torch.randn(6, 3 * 4, 2, 2).contiguous(memory_format=torch.channels_last).requires_grad_()
    flat = grouped.rounds(x, 3)
    expected = x.detach().reshape(6, 3, 4, 2, 2).transpose(0, 1).reshape(3, 6, 16)
    assert torch.equal(flat, expected)
    weights = torch.randn(3, 6, 16)
    (flat * weights).sum().backward()
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x.grad, weights.reshape(3, 6, 4, 2, 2).transpose(0, 1).reshape(6, 12, 2, 2))


@pytest.mark.parametrize(("channels", "padding", "stride", "bias"),
                         [(1, 0, 1, True), (2, 1, 2, False), (3, (1, 0), 1, True)])
def test_a_convolution_of_the_data_gives_grouped_conv2d_values_and_gradients(channels, padding, stride, bias):
    torch.manual_seed(0)
    k, conv = 3, nn.Conv2d(channels, 4, 3, stride=stride, padding=padding, bias=bias)
    x = grouped.grouped(torch.rand(k, 5, channels, 9, 8))  # data: needs no gradient
    weight = torch.randn(k, 4, channels, 3, 3, requires_grad=True)
    b = torch.randn(k, 4, requires_grad=True) if bias else None
    params = [weight] + ([b] if bias else [])

    def reference():
        return torch.nn.functional.conv2d(x, weight.flatten(0, 1), None if b is None else b.flatten(), stride,
                                          padding, groups=k)

    for layout in (torch.channels_last, torch.contiguous_format):
        ours = grouped.conv2d(x, weight, b, conv)
        assert ours.grad_fn.name() == "_DataConvBackward"  # the path under test, not F.conv2d's
        grad = torch.randn_like(ours).contiguous(memory_format=layout)
        torch.testing.assert_close(ours, reference())
        torch.testing.assert_close(torch.autograd.grad(ours, params, grad),
                                   torch.autograd.grad(reference(), params, grad))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = grouped.conv2d(x, weight, b, conv)
        expected = reference()
    assert low.dtype == torch.bfloat16
    grad = torch.randn_like(low)
    torch.testing.assert_close(torch.autograd.grad(low, params, grad), torch.autograd.grad(expected, params, grad),
                               atol=0.1, rtol=0.02)
