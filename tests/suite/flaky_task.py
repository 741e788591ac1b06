"""A task for the Ray tests: the toy task (tests/toy_task.py) whose rounds fail once each (their first attempt),
then succeed.

Imported by Ray worker processes by reference (the test puts the repository on their PYTHONPATH); attempts are
counted in files under $SUITE_FLAKY_DIR, which the workers see because they inherit the test's environment.
"""

import os
from pathlib import Path

from tests.toy_task import ToyTask


class FlakyToy(ToyTask):
    name = "flaky-toy"

    def round_data(self, prepared, config, generator, round_index):
        attempts = Path(os.environ["SUITE_FLAKY_DIR"]) / f"round-{round_index}"
        with attempts.open("a") as log:
            log.write("attempt\n")
        if attempts.read_text().count("attempt") == 1:
            raise RuntimeError(f"injected failure of round {round_index}'s first attempt")
        return super().round_data(prepared, config, generator, round_index)


TASK = FlakyToy()
