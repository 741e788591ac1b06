"""Running the real `suite` console entry point as a user would: in a subprocess, or (for the many bad-input
cases, where a Python start-up with torch per case would dominate the test time) in this process."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from suite.cli import main


def _environment(data_dir: Path | None, env: dict[str, str] | None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "SUITE_DATA_DIR"} | (env or {})
    if data_dir is not None:
        environment["SUITE_DATA_DIR"] = str(data_dir)
    return environment


def suite(*args: str, cwd: Path, data_dir: Path | None = None, timeout: int = 300,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite", *args], cwd=cwd, env=_environment(data_dir, env),
                          capture_output=True, text=True, timeout=timeout)


def suite_here(*args: str, cwd: Path, data_dir: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`suite.cli.main` (what the console script calls) in this process, with its own environment, working
    directory and captured output; any exception other than its exit would fail the test with a traceback."""
    stdout, stderr = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    environment = _environment(data_dir, env)  # read before clearing: it starts from the current environment
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(list(args))
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["suite", *args], code, stdout.getvalue(), stderr.getvalue())
