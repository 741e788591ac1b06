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
