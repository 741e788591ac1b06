import torch

from suite.core.seeding import STREAMS, RoundSeeds


def test_streams_are_deterministic_and_distinct():
    seeds = RoundSeeds(7, 3)
    values = [seeds.seed(s) for s in STREAMS]
    assert values == [RoundSeeds(7, 3).seed(s) for s in STREAMS]
    assert len(set(values)) == len(STREAMS)
    assert all(0 <= v < 2**63 for v in values)


def test_rounds_and_base_seeds_give_different_streams():
    assert RoundSeeds(7, 3).seed("data") != RoundSeeds(7, 4).seed("data")
    assert RoundSeeds(7, 3).seed("data") != RoundSeeds(8, 3).seed("data")


def test_generator_draws_repeat():
    a = torch.randperm(100, generator=RoundSeeds(0, 1).generator("order"))
    b = torch.randperm(100, generator=RoundSeeds(0, 1).generator("order"))
    assert torch.equal(a, b)
