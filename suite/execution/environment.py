"""What produced a result: code version, library versions, device."""

import platform
import subprocess
from functools import cache
from pathlib import Path

import torch

import suite


@cache
def code_version() -> str:
    """`git describe` of the checkout the code runs from (with -dirty), else the package version."""
    root = Path(suite.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--tags"],
                             capture_output=True, text=True, timeout=5, check=True)
        return f"{suite.__version__}+g{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        return suite.__version__


def environment(device: str) -> dict[str, str]:
    return {"code_version": code_version(), "torch_version": torch.__version__,
            "python_version": platform.python_version(), "device": device}
