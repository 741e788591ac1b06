"""Independent random streams per round.

Round r of an experiment with base seed s gets one stream per purpose, derived from (s, r, purpose) with
numpy's SeedSequence. A model option therefore never changes the data that round r sees, and variants
compared at equal round indices are paired.
"""

import numpy as np
import torch

STREAMS = ("data", "init", "order", "noise", "augment")  # noise: dropout; augment: on-the-fly augmentation
SEED_LIMIT = 2**63  # base seeds are 0 … 2**63 - 1: what a store's INTEGER column and torch's seeds hold


class RoundSeeds:
    def __init__(self, base_seed: int, round_index: int) -> None:
        self.base_seed = base_seed
        self.round_index = round_index

    def seed(self, stream: str) -> int:
        """A 63-bit integer seed for one stream of this round."""
        key = STREAMS.index(stream)
        words = np.random.SeedSequence(self.base_seed, spawn_key=(self.round_index, key)).generate_state(2)
        return int((int(words[0]) << 32 | int(words[1])) & (2**63 - 1))

    def generator(self, stream: str) -> torch.Generator:
        """A CPU torch generator for one stream (sampling, permutations)."""
        return torch.Generator().manual_seed(self.seed(stream))

    def device_generator(self, stream: str, device: torch.device) -> torch.Generator:
        """A generator on `device`, so random ops there (augmentation) need no host round trip."""
        return torch.Generator(device=device).manual_seed(self.seed(stream))
