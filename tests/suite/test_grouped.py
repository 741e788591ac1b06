"""suite.grouped: K rounds' layer chains as grouped convolutions and batched matmuls."""

import pytest
import torch
from torch import nn
from torch.func import stack_module_state

from suite import grouped


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


def test_tanh_through_sigmoid_matches_torch_tanh_in_value_and_gradient():
    x = torch.linspace(-12, 12, 4001, dtype=torch.float32).requires_grad_()
    reference = x.detach().clone().requires_grad_()
    y, expected = grouped.tanh(x), torch.tanh(reference)
    assert (y - expected).abs().max() < 1e-6
    weights = torch.randn_like(y)
    (y * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.allclose(x.grad, reference.grad, atol=1e-6)


def test_dropout_keeps_about_1_minus_p_of_its_inputs_scaled_and_is_off_in_evaluation():
    x = torch.ones(200_000)
    kept = grouped.dropout(x, 0.3, training=True)
    assert torch.allclose(kept[kept > 0], torch.tensor(1 / 0.7))
    assert (kept > 0).float().mean().item() == pytest.approx(0.7, abs=0.01)
    assert grouped.dropout(x, 0.3, training=False) is x
    assert not grouped.dropout(x, 1.0, training=True).any()
