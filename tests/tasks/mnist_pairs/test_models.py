import pytest
import torch
import torch.nn.functional as F
from torch.func import stack_module_state

from suite.core.errors import SuiteError
from suite_tasks.mnist_pairs.models import Baseline, Branch, Siamese, rule_logits, translations
from suite_tasks.mnist_pairs.task import TASK, MnistConfig


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_baseline_shape_and_size():
    model = Baseline(hidden=40)
    assert model(torch.zeros(5, 2, 14, 14))["logits"].shape == (5, 2)
    assert count(model) == (392 * 40 + 40) + (40 * 40 + 40) + (40 * 2 + 2)


def test_weight_sharing_uses_one_branch_for_both_digits():
    shared = Siamese(w_sharing=True, dropout=0.3, hidden=128)
    separate = Siamese(w_sharing=False, dropout=0.3, hidden=128)
    assert shared.branch1 is shared.branch2
    assert separate.branch1 is not separate.branch2
    branch, head = count(Branch(0.3, 128)), count(shared.head)
    assert count(shared) == branch + head
    assert count(separate) == 2 * branch + head


def test_shared_branch_gets_gradient_from_both_channels():
    torch.manual_seed(0)
    model = Siamese(w_sharing=True, dropout=0.0, hidden=16).eval()
    x = torch.randn(4, 2, 14, 14)
    grads = []
    for channel in (0, 1):
        model.zero_grad()
        model(x)["digit_logits"][:, channel].sum().backward()
        grads.append(model.branch1.conv[0].weight.grad.clone())
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0
    assert not torch.allclose(grads[0], grads[1])


def test_siamese_outputs():
    out = Siamese(w_sharing=False, dropout=0.3, hidden=32)(torch.zeros(3, 2, 14, 14))
    assert out["logits"].shape == (3, 2) and out["digit_logits"].shape == (3, 2, 10)


def batch():
    classes = torch.tensor([[1, 2], [7, 3], [4, 4]])
    return {"x": torch.zeros(3, 2, 14, 14), "classes": classes, "target": (classes[:, 0] <= classes[:, 1]).long()}


def outputs():
    torch.manual_seed(1)
    return {"logits": torch.randn(3, 2), "digit_logits": torch.randn(3, 2, 10)}


def test_aux_loss_is_the_reported_mix_of_target_and_digit_losses():
    b, o = batch(), outputs()
    bce = F.binary_cross_entropy  # the report's BCELoss on sigmoid outputs, computed directly here
    target = bce(torch.sigmoid(o["logits"]), F.one_hot(b["target"], 2).float())
    aux = [bce(torch.sigmoid(o["digit_logits"][:, i]), F.one_hot(b["classes"][:, i], 10).float()) for i in (0, 1)]
    config = MnistConfig(aux_loss=True, alpha=0.2)
    expected = 0.2 * target + 0.8 / 2 * (aux[0] + aux[1])
    assert float(TASK.loss(config, o, b)) == pytest.approx(float(expected), rel=1e-5)
    assert float(TASK.loss(MnistConfig(aux_loss=False), o, b)) == pytest.approx(float(target), rel=1e-5)


def test_digit_labels_matter_only_with_aux_loss():
    b, o = batch(), outputs()
    relabelled = {**b, "classes": (b["classes"] + 1) % 10}
    relabelled["target"] = b["target"]
    with_aux, without = MnistConfig(aux_loss=True), MnistConfig(aux_loss=False)
    assert TASK.loss(with_aux, o, b) != TASK.loss(with_aux, o, relabelled)
    assert TASK.loss(without, o, b) == TASK.loss(without, o, relabelled)


def test_aux_gradient_reaches_the_branches_only_with_aux_loss():
    torch.manual_seed(0)
    model = Siamese(w_sharing=False, dropout=0.0, hidden=16)
    b = batch()
    for aux_loss in (True, False):
        model.zero_grad()
        out = model(b["x"] + torch.randn(3, 2, 14, 14))
        out = {**out, "logits": out["logits"].detach()}  # only the digit path can carry gradient now
        loss = TASK.loss(MnistConfig(aux_loss=aux_loss), out, b)
        if aux_loss:
            loss.backward()
            assert model.branch2.fc[-1].weight.grad.abs().sum() > 0
        else:
            assert not loss.requires_grad


@pytest.mark.parametrize("options", [{"aux_loss": True}, {"aux_loss": False}, {"head": "rule", "aux_loss": True},
                                     {"model": "baseline", "w_sharing": False}])
def test_the_stacked_loss_gives_each_rounds_loss_and_gradient(options):
    config = MnistConfig(**options)
    torch.manual_seed(2)
    k, n = 3, 5
    classes = torch.randint(0, 10, (k, n, 2))
    stacked_batch = {"classes": classes, "target": (classes[..., 0] <= classes[..., 1]).long()}
    logits = torch.randn(k, n, 2, requires_grad=True)
    digits = torch.randn(k, n, 2, 10, requires_grad=True)
    losses = TASK.stacked_loss(config, {"logits": logits, "digit_logits": digits}, stacked_batch)
    assert losses.shape == (k,)
    weights = torch.tensor([1.0, -2.0, 0.5])
    grads = torch.autograd.grad((losses * weights).sum(), [logits, digits], allow_unused=True)
    for r in range(k):
        alone = TASK.loss(config, {"logits": logits[r], "digit_logits": digits[r]},
                          {key: value[r] for key, value in stacked_batch.items()})
        torch.testing.assert_close(losses[r], alone)
        expected = torch.autograd.grad(alone * weights[r], [logits, digits], allow_unused=True)
        for got, want in zip(grads, expected, strict=True):
            if want is None:  # no digit loss: nothing reaches the digit logits either way
                assert got is None or not got[r].any()
            else:
                torch.testing.assert_close(got[r], want[r])


def test_metrics():
    b, o = batch(), outputs()
    o["logits"] = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # predicts 1, 0, 0; targets 1, 0, 1
    o["digit_logits"] = F.one_hot(b["classes"], 10).float()
    metrics = TASK.metrics(MnistConfig(aux_loss=True), o, b)
    assert metrics == {"accuracy": pytest.approx(2 / 3), "digit_accuracy": 1.0}
    assert "digit_accuracy" not in TASK.metrics(MnistConfig(), o, b)


def test_scores_are_the_probability_of_first_le_second_and_agree_with_the_prediction():
    b, o = batch(), outputs()
    o["logits"] = torch.tensor([[0.0, 2.0], [1.0, 0.0], [3.0, 3.0]])
    scores = TASK.scores(MnistConfig(), o, b)
    assert scores.tolist() == pytest.approx([1 / (1 + torch.e ** -2), 1 / (1 + torch.e), 0.5])
    assert ((scores > 0.5) == (o["logits"].argmax(1) == 1))[:2].all()


@pytest.mark.parametrize("options", [{"model": "baseline"}, {"w_sharing": False}, {"w_sharing": True},
                                     {"w_sharing": True, "branch": "deep", "head": "rule"},
                                     {"w_sharing": False, "branch": "deep"}])
def test_stacked_forward_gives_each_round_its_own_outputs_and_gradients(options):
    """forward_stacked (grouped layers, used for stacked rounds) computes what each round's module computes."""
    config = MnistConfig(**options)
    models = []
    for k in range(3):
        torch.manual_seed(k)
        models.append(TASK.build_model(config).eval())  # eval: dropout off, so both paths are deterministic
    params, _ = stack_module_state(models)
    x = torch.randn(3, 5, 2, 14, 14)
    stacked = models[0].forward_stacked(params, x)
    sum(v.square().sum() for v in stacked.values()).backward()
    for k, model in enumerate(models):
        alone = model(x[k])
        assert stacked.keys() == alone.keys()
        for key, value in alone.items():
            assert torch.allclose(stacked[key][k], value, atol=1e-5), key
        sum(v.square().sum() for v in alone.values()).backward()
        for name, parameter in model.named_parameters():
            assert torch.allclose(params[name].grad[k], parameter.grad, atol=1e-4), name


def test_deep_branch_gives_ten_logits_and_has_more_parameters_than_the_report_branch():
    deep = Branch(0.3, 128, "deep")
    assert deep(torch.zeros(4, 1, 14, 14)).shape == (4, 10)
    assert count(deep) > count(Branch(0.3, 128))


def test_rule_head_is_the_probability_that_the_first_digit_is_at_most_the_second():
    torch.manual_seed(0)
    digits = torch.randn(6, 2, 10)
    probs = torch.softmax(digits, -1)
    brute = torch.tensor([sum(float(probs[n, 0, i] * probs[n, 1, j]) for i in range(10) for j in range(i, 10))
                          for n in range(6)])
    logits = rule_logits(digits)
    assert torch.allclose(torch.softmax(logits, -1)[:, 1], brute, atol=1e-5)
    certain = torch.full((2, 2, 10), -30.0)
    certain[0, 0, 3], certain[0, 1, 5] = 30, 30  # 3 vs 5: first <= second
    certain[1, 0, 5], certain[1, 1, 3] = 30, 30  # 5 vs 3
    assert rule_logits(certain).argmax(-1).tolist() == [1, 0]


def test_rule_head_has_no_parameters_and_trains_with_the_negative_log_likelihood():
    config = MnistConfig(w_sharing=True, head="rule")
    model = TASK.build_model(config)
    assert model.head is None and count(model) == count(Branch(0.3, 128))
    b, o = batch(), outputs()
    o["logits"] = torch.log_softmax(o["logits"], -1)
    assert float(TASK.loss(config, o, b)) == pytest.approx(float(F.nll_loss(o["logits"], b["target"])))


def test_siamese_only_options_are_refused_for_the_baseline():
    with pytest.raises(SuiteError, match="--branch and --head apply to --model siamese"):
        MnistConfig(model="baseline", head="rule")


def test_translations_are_every_offset_up_to_the_limit_with_x_itself_among_them():
    x = torch.zeros(2, 2, 5, 5)
    x[..., 2, 2] = 1
    views = translations(x, 1)
    assert len(views) == 9 and any(torch.equal(v, x) for v in views)
    spots = {tuple(torch.nonzero(v[0, 0])[0].tolist()) for v in views}
    assert spots == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}


def test_tta_averages_the_digit_distributions_over_translations_in_evaluation_only():
    torch.manual_seed(0)
    config = MnistConfig(w_sharing=True, head="rule", tta=1)
    model = TASK.build_model(config)
    x = torch.randn(4, 2, 14, 14)
    plain = Siamese(True, 0.3, 128, head="rule")
    plain.load_state_dict(model.state_dict())
    model.eval(), plain.eval()
    expected = torch.stack([torch.softmax(plain(v)["digit_logits"], -1) for v in translations(x, 1)]).mean(0)
    got = model(x)
    assert torch.allclose(got["digit_logits"].exp(), expected, atol=1e-6)
    assert torch.allclose(got["logits"], rule_logits(got["digit_logits"]), atol=1e-6)
    model.train(), plain.train()
    torch.manual_seed(1)
    a = model(x)["digit_logits"]
    torch.manual_seed(1)
    assert torch.equal(a, plain(x)["digit_logits"])  # training: one view, as without --tta


def test_tta_needs_the_rule_head():
    with pytest.raises(SuiteError, match="--tta averages digit distributions: it needs --model siamese --head rule"):
        MnistConfig(tta=1)


def members_alone(model: Siamese, config: MnistConfig) -> list[Siamese]:
    """Each ensemble member of `model` as a plain one-member net with the member's weights."""
    plain = []
    for first, second in model.pairs():
        single = TASK.build_model(MnistConfig(**{**config.__dict__, "ensemble": 1}))
        single.branch1.load_state_dict(first.state_dict())
        if single.branch2 is not single.branch1:
            single.branch2.load_state_dict(second.state_dict())
        plain.append(single.train(model.training))
    return plain


@pytest.mark.parametrize("w_sharing", [True, False])
def test_ensemble_members_are_independent_and_their_distributions_are_averaged(w_sharing):
    torch.manual_seed(0)
    config = MnistConfig(w_sharing=w_sharing, aux_loss=True, head="rule", ensemble=3)
    model = TASK.build_model(config).eval()
    assert count(model) == 3 * count(TASK.build_model(MnistConfig(w_sharing=w_sharing, head="rule")))
    firsts = [first for first, _ in model.pairs()]
    assert len({id(b) for b in firsts}) == 3
    assert not torch.equal(firsts[0].conv[0].weight, firsts[1].conv[0].weight)  # initialised independently
    x = torch.randn(4, 2, 14, 14)
    mean = torch.stack([torch.softmax(m(x)["digit_logits"], -1) for m in members_alone(model, config)]).mean(0)
    got = model(x)
    assert torch.allclose(got["digit_logits"].exp(), mean, atol=1e-6)
    assert torch.allclose(got["logits"], rule_logits(mean.log()), atol=1e-5)


def test_ensemble_trains_each_member_on_its_own_loss():
    torch.manual_seed(0)
    config = MnistConfig(w_sharing=True, aux_loss=True, head="rule", ensemble=2, dropout=0.0)
    model = TASK.build_model(config).train()
    b = batch()
    x = torch.randn(3, 2, 14, 14)
    out = model(x)
    assert out["member_logits"].shape == (3, 2, 2) and out["member_digit_logits"].shape == (3, 2, 2, 10)
    assert torch.allclose(out["digit_logits"].exp(), torch.softmax(out["member_digit_logits"], -1).mean(1))
    plain = members_alone(model, config)
    expected = sum(TASK.loss(config, m(x), b) for m in plain) / 2
    loss = TASK.loss(config, out, b)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    # a member's gradient is its own loss's, halved: the other member does not enter it
    alone = TASK.loss(config, plain[1](x), b) / 2
    alone.backward()
    torch.testing.assert_close(model.members[0].branch1.conv[0].weight.grad, plain[1].branch1.conv[0].weight.grad)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("w_sharing", [True, False])
def test_stacked_ensemble_matches_each_round_in_evaluation_and_training(w_sharing, training):
    config = MnistConfig(w_sharing=w_sharing, aux_loss=True, head="rule", ensemble=2, dropout=0.0)
    models = []
    for k in range(2):
        torch.manual_seed(k)
        models.append(TASK.build_model(config).train(training))
    params, _ = stack_module_state(models)
    x = torch.randn(2, 4, 2, 14, 14)
    stacked = models[0].forward_stacked(params, x)
    classes = torch.randint(0, 10, (2, 4, 2))
    b = {"classes": classes, "target": (classes[..., 0] <= classes[..., 1]).long()}
    losses = TASK.stacked_loss(config, stacked, b)
    for k, model in enumerate(models):
        alone = model(x[k])
        assert stacked.keys() == alone.keys()
        for key, value in alone.items():
            assert torch.allclose(stacked[key][k], value, atol=1e-5), key
        torch.testing.assert_close(losses[k], TASK.loss(config, alone, {key: v[k] for key, v in b.items()}))


def test_ensemble_needs_the_rule_head():
    with pytest.raises(SuiteError, match="--ensemble 2 averages digit distributions: it needs --model siamese "
                                         "--head rule"):
        MnistConfig(w_sharing=True, ensemble=2)
    with pytest.raises(SuiteError, match="ensemble"):
        MnistConfig(head="rule", ensemble=0)
