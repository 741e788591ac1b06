import pytest
import torch
import torch.nn.functional as F
from torch import nn

from suite.core.errors import SuiteError
from suite_tasks.lfw.config import LfwConfig
from suite_tasks.lfw.models import PatchConv2d, conv_block, dropout_rates, patch_conv2d
from suite_tasks.lfw.task import MODELS


def build(**values) -> nn.Module:
    config = LfwConfig(**values)
    return MODELS.get(config.model).value(config)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def pairs(n: int, size: int = 105, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 2, channels, size, size, generator=torch.Generator().manual_seed(seed))


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


@pytest.fixture(scope="module")
def koch_default() -> nn.Module:
    torch.manual_seed(0)
    return build()  # the only full-size koch built for real: 39M parameters


def test_registry_holds_the_four_models():
    assert list(MODELS) == ["koch", "small", "metric", "fusion"]


def test_koch_has_report_003s_parameter_count(koch_default):
    assert count(koch_default) == 38_951_745
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs(koch_default)] == [
        (1, 64, (10, 10)), (64, 128, (7, 7)), (128, 128, (4, 4)), (128, 256, (4, 4))]
    fc = koch_default.embedding[1]
    assert (fc.in_features, fc.out_features) == (256 * 6 * 6, 4096)
    assert (koch_default.compare.head.in_features, koch_default.compare.head.out_features) == (4096, 1)


def test_koch_twin_matches_report_000s_colour_table():
    model = build(channels=3, init="xavier")
    assert count(model) - count(model.compare.head) == 38_960_448


def test_koch_paper_init_statistics(koch_default):
    conv2, fc = convs(koch_default)[1], koch_default.embedding[1]
    for tensor, mean, std in ((conv2.weight, 0.0, 1e-2), (fc.weight, 0.0, 2e-1), (fc.bias, 0.5, 1e-2)):
        assert tensor.mean().item() == pytest.approx(mean, abs=0.05 * std)
        assert tensor.std().item() == pytest.approx(std, rel=0.05)
    biases = torch.cat([c.bias for c in convs(koch_default)])
    assert biases.mean().item() == pytest.approx(0.5, abs=1e-3)
    assert biases.std().item() == pytest.approx(1e-2, rel=0.1)


def test_koch_forward_at_105(koch_default):
    koch_default.eval()
    with torch.no_grad():
        out = koch_default(pairs(2))
    assert out["logits"].shape == (2,) and out["distance"].shape == (2,)
    assert torch.isfinite(out["logits"]).all() and (out["distance"] >= 0).all()


def test_small_is_report_002s_final_network():
    model = build(model="small")
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs(model)] == [
        (1, 32, (10, 10)), (32, 32, (7, 7)), (32, 32, (4, 4)), (32, 32, (4, 4))]
    fc = model.embedding[1]
    assert (fc.in_features, fc.out_features, model.compare.head.in_features) == (1152, 32, 32)
    assert count(model) == 123_201
    # Report 002's own configuration: BN after each pool (after the ReLU in the last block), dropout 0.7.
    trained = build(model="small", batch_norm="after-pool", dropout=0.7)
    assert count(trained) == 123_201 + 2 * (32 * 4)
    out = trained(pairs(3))
    assert out["logits"].shape == (3,)


@pytest.mark.parametrize("distance", ["l1", "l2", "cosine"])
def test_outputs_and_distance_values(distance):
    torch.manual_seed(0)
    model = build(model="small", distance=distance).eval()
    x = pairs(4, seed=1)
    with torch.no_grad():
        out = model(x)
        h = model.embedding(model.convs(x.flatten(0, 1))).view(4, 2, -1)
    assert set(out) == {"logits", "distance"}
    assert out["logits"].shape == (4,) and out["distance"].shape == (4,)
    h1, h2 = h[:, 0], h[:, 1]
    expected = {"l1": (h1 - h2).abs().sum(1), "l2": (h1 - h2).norm(dim=1),
                "cosine": 1 - F.cosine_similarity(h1, h2, dim=1)}[distance]
    torch.testing.assert_close(out["distance"], expected)
    assert (out["distance"] >= 0).all()
    assert model.compare.head.in_features == (1 if distance == "cosine" else 32)


@pytest.mark.parametrize("distance", ["l1", "l2", "cosine"])
def test_swapping_the_two_images_gives_the_same_output(distance):
    torch.manual_seed(0)
    model = build(model="small", distance=distance, batch_norm="before-act", dropout=0.3).eval()
    x = pairs(5, seed=2)
    with torch.no_grad():
        out, swapped = model(x), model(x.flip(1))
    torch.testing.assert_close(out["logits"], swapped["logits"])
    torch.testing.assert_close(out["distance"], swapped["distance"])


@pytest.mark.parametrize("distance", ["l1", "l2", "cosine"])
def test_identical_images_have_zero_distance_and_finite_gradients(distance):
    model = build(model="small", distance=distance, init="kaiming")
    x = pairs(2).narrow(1, 0, 1).expand(-1, 2, -1, -1, -1).contiguous()
    out = model(x)
    assert out["distance"].abs().max().item() < 1e-5
    (out["distance"].square().sum() + out["logits"].sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


LAYOUTS = {  # where ReLU and max-pool meet, the pool comes first: same values, ReLU on a quarter of them
    "none": [nn.Conv2d, nn.MaxPool2d, nn.ReLU],
    "before-act": [nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU],
    "after-conv": [nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.MaxPool2d],
    "after-pool": [nn.Conv2d, nn.MaxPool2d, nn.ReLU, nn.BatchNorm2d],
}


@pytest.mark.parametrize("batch_norm", ["none", "before-act", "after-pool"])
def test_pooling_before_relu_gives_the_values_and_gradients_of_relu_before_pooling(batch_norm):
    torch.manual_seed(0)
    block = conv_block(3, 4, 3, 1, True, batch_norm, 0.0)
    layers = list(block)
    at = next(i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d))
    documented = nn.Sequential(*layers[:at], layers[at + 1], layers[at], *layers[at + 2:])  # ReLU, then pool
    x = torch.randn(2, 3, 11, 11, requires_grad=True)  # about half the conv outputs negative
    ours, theirs = block(x), documented(x)
    assert torch.equal(ours, theirs)
    assert (block[:at + 2](x) == 0).any()  # the ReLU did cut something
    grad = torch.randn_like(ours)
    ours_grads = torch.autograd.grad(ours, [x, *block.parameters()], grad)
    theirs_grads = torch.autograd.grad(theirs, [x, *documented.parameters()], grad)
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        assert torch.equal(a, b)


def kinds(block: nn.Sequential) -> list[type]:
    return [nn.Conv2d if isinstance(m, nn.Conv2d) else type(m) for m in block]  # PatchConv2d is a Conv2d


@pytest.mark.parametrize("placement", list(LAYOUTS))
def test_batch_norm_placement(placement):
    model = build(model="small", batch_norm=placement)
    blocks = list(model.convs)
    for block in blocks[:3]:
        assert kinds(block) == LAYOUTS[placement]
    unpooled = [t for t in LAYOUTS[placement] if t is not nn.MaxPool2d]
    assert kinds(blocks[3]) == unpooled  # after-pool without a pool: conv → ReLU → BN
    out = model.train()(pairs(3))
    out["logits"].sum().backward()
    assert out["logits"].shape == (3,)


def block_dropouts(model: nn.Module) -> list[float]:
    rates = []
    for block in model.convs:
        found = [m.p for m in block if isinstance(m, nn.Dropout)]
        assert isinstance(block[-1], nn.Dropout) or not found  # dropout ends its block
        rates.append(found[0] if found else 0.0)
    return rates


def test_dropout_schedules():
    assert block_dropouts(build(model="small", dropout=0.6)) == pytest.approx([0.6] * 4)
    decreasing = build(model="small", dropout=0.25, dropout_schedule="decreasing")
    assert block_dropouts(decreasing) == pytest.approx([0.25, 0.2, 0.15, 0.1])  # report 001's schedule
    assert dropout_rates(LfwConfig(dropout=0.1, dropout_schedule="decreasing")) == pytest.approx(
        [0.1, 0.05, 0.0, 0.0])
    assert not any(isinstance(m, nn.Dropout) for m in build(model="small", dropout=0.1,
                                                               dropout_schedule="decreasing").convs[3])
    assert block_dropouts(build(model="small")) == [0.0] * 4


def test_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    model = build(model="small", dropout=0.5)
    x = pairs(2)
    with torch.no_grad():
        assert not torch.equal(model.train()(x)["logits"], model(x)["logits"])
        model.eval()
        torch.testing.assert_close(model(x)["logits"], model(x)["logits"])


def test_width_filters_and_fc_units():
    assert [c.out_channels for c in convs(build(model="small", width=0.5))] == [16, 16, 16, 16]
    model = build(filters="8,16,16,32", fc_units=64, channels=3)
    assert [(c.in_channels, c.out_channels) for c in convs(model)] == [(3, 8), (8, 16), (16, 16), (16, 32)]
    assert (model.embedding[1].in_features, model.embedding[1].out_features) == (32 * 6 * 6, 64)
    assert model(pairs(2, channels=3))["logits"].shape == (2,)
    with pytest.raises(SuiteError, match="4 conv layers"):
        build(filters="8,16,32")


@pytest.mark.parametrize("model", ["koch", "small"])
def test_other_sizes_and_strides(model):
    for size, stride, side in ((72, 1, 1), (250, 1, 24), (120, 2, 1)):
        net = build(model=model, filters="4,4,4,4", size=size, stride=stride).eval()
        assert net.embedding[1].in_features == 4 * side * side
        assert net(pairs(2, size=size))["logits"].shape == (2,)
    with pytest.raises(SuiteError, match=r"--size 64 is too small .* smallest size that works is 65$"):
        build(model=model, size=64)
    with pytest.raises(SuiteError, match="smallest size that works is 120"):
        build(model=model, stride=2)


@pytest.mark.parametrize("scheme, std", [("xavier", (2 / (2 * 32 * 49)) ** 0.5), ("kaiming", (2 / (32 * 49)) ** 0.5),
                                         ("lecun", (1 / (32 * 49)) ** 0.5)])
def test_other_inits(scheme, std):
    torch.manual_seed(0)
    model = build(model="small", init=scheme)
    conv2 = convs(model)[1]
    assert conv2.weight.std().item() == pytest.approx(std, rel=0.05)
    assert conv2.weight.mean().item() == pytest.approx(0.0, abs=0.05 * std)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert torch.count_nonzero(m.bias) == 0


@pytest.mark.parametrize(("channels", "kernel", "stride"), [(1, 10, 1), (3, 4, 2), (2, 3, (1, 2))])
def test_a_convolution_as_a_product_over_patches_gives_conv2d_values_and_gradients(channels, kernel, stride):
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, 5, kernel, stride)
    x = torch.randn(3, channels, 17, 15)
    grad = torch.randn_like(conv(x))
    ours = patch_conv2d(x, conv.weight, conv.bias, conv.stride)
    assert ours.shape == grad.shape and ours.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(ours, conv(x))
    ours_grads = torch.autograd.grad(ours, list(conv.parameters()), grad)
    torch.testing.assert_close(ours_grads, torch.autograd.grad(conv(x), list(conv.parameters()), grad))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as a GPU runs it: patches and product in bf16
        low = patch_conv2d(x, conv.weight, conv.bias, conv.stride)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), conv(x), atol=0.05, rtol=0.02)


def test_the_patch_convolution_stacks_under_vmap_and_the_model_uses_it_first():
    torch.manual_seed(0)
    weights, x = torch.randn(4, 6, 1, 5, 5), torch.randn(4, 2, 1, 12, 12)  # 4 stacked rounds
    stacked = torch.func.vmap(lambda w, x: patch_conv2d(x, w, None, (1, 1)))(weights, x)
    torch.testing.assert_close(stacked, torch.stack([F.conv2d(x[k], weights[k]) for k in range(4)]))
    model = build(model="koch", filters="4,8,8,8", fc_units=16)
    assert [type(block[0]) for block in model.convs] == [PatchConv2d] + [nn.Conv2d] * 3
    with pytest.raises(ValueError, match="unpadded, undilated, ungrouped"):
        PatchConv2d(1, 4, 3, padding=1)  # its GPU path would ignore the padding
