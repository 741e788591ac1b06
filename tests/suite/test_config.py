import dataclasses

import pytest

from suite.core.config import build_config, config_dict, config_hash, non_defaults
from suite.core.errors import SuiteError
from suite_tasks.mnist_pairs.task import MnistConfig


def test_defaults_follow_report_004():
    config = MnistConfig()
    assert (config.model, config.w_sharing, config.aux_loss) == ("siamese", False, False)
    assert (config.alpha, config.dropout, config.lr, config.hidden, config.pairs) == (0.2, 0.3, 1e-3, 40, 1000)


def test_text_values_are_coerced_to_field_types():
    config = build_config(MnistConfig, {"lr": "0.01", "epochs": "3", "w_sharing": "true"})
    assert (config.lr, config.epochs, config.w_sharing) == (0.01, 3, True)


@pytest.mark.parametrize(("values", "message"), [
    ({"model": "resnet"}, "model: 'resnet' is not one of: baseline, siamese"),
    ({"epochs": 0}, "epochs: must be >= 1, got 0"),
    ({"lr": 0.0}, "lr: must be > 0.0"),
    ({"alpha": 1.5}, "alpha: must be <= 1.0"),
    ({"epochs": "many"}, "epochs: expected int, got 'many'"),
    ({"pairs": 6000}, "pairs: must be <= 5000"),
    ({"model": "baseline", "aux_loss": True}, "apply to --model siamese"),
    ({"pairs": 5000, "val_pairs": 26000}, "at most 30000"),
    ({"colour": "red"}, "unknown option(s) colour"),
])
def test_bad_values_name_the_field(values, message):
    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(MnistConfig, values)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        MnistConfig().lr = 1.0


def test_hash_identifies_the_resolved_config():
    base = MnistConfig()
    assert config_hash("mnist", base) == config_hash("mnist", build_config(MnistConfig, {"lr": "0.001"}))
    assert config_hash("mnist", base) != config_hash("mnist", MnistConfig(w_sharing=True))
    assert config_hash("mnist", base) != config_hash("other", base)


def test_non_defaults_describes_a_variant():
    described = non_defaults(MnistConfig, config_dict(MnistConfig(epochs=3, w_sharing=True)))
    assert list(described.items()) == [("w_sharing", True), ("epochs", 3)]  # task fields first
