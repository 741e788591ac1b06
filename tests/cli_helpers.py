"""Running the real `suite` console entry point in a subprocess, as a user would."""

import os
import subprocess
import sys
from pathlib import Path


def suite(*args: str, cwd: Path, data_dir: Path | None = None, timeout: int = 300,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "SUITE_DATA_DIR"} | (env or {})
    if data_dir is not None:
        environment["SUITE_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "suite", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=timeout)
