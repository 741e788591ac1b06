"""The code a round ran with: a digest of the framework's and its task's source files (so an uncommitted edit
counts), and the commit they were checked out at, when they are a git checkout. A rerun reuses only rounds of the
same digest; the commit is recorded so a person can find the code again."""

import dataclasses
import hashlib
import subprocess
import sys
from functools import cache
from pathlib import Path

import suite

UNKNOWN = "unknown"  # rounds stored before code identities were (schema < 6)


@dataclasses.dataclass(frozen=True)
class CodeIdentity:
    digest: str  # sha256 (first 16 hex digits) over the source files' paths and bytes
    commit: str  # `git rev-parse --short=12 HEAD` of the framework's checkout, "" outside one


def _package_dir(module_name: str) -> Path:
    """The directory of the package a module belongs to (a top-level module: its own directory)."""
    module = sys.modules[module_name]
    path = Path(module.__file__).resolve()
    return path.parent


@cache
def _digest(roots: tuple[Path, ...]) -> str:
    hasher = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            hasher.update(str(path.relative_to(root.parent)).encode())
            hasher.update(b"\0")
            hasher.update(path.read_bytes())
            hasher.update(b"\0")
    return hasher.hexdigest()[:16]


@cache
def _commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def code_identity(task) -> CodeIdentity:
    """The identity of the code that trains `task`'s rounds here: suite/ and the task's own package."""
    framework = Path(suite.__file__).resolve().parent
    roots = tuple(dict.fromkeys([framework, _package_dir(type(task).__module__)]))
    return CodeIdentity(_digest(roots), _commit(framework))
