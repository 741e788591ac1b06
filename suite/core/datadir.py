"""Where data is looked for: --data-dir, then $SUITE_DATA_DIR, then ./data."""

import os
from pathlib import Path

from suite.core.errors import SuiteError

ENV_VAR = "SUITE_DATA_DIR"


def resolve_data_dir(option: str | Path | None, *, create: bool = False) -> Path:
    if option is not None:
        path, source = Path(option), "--data-dir"
    elif os.environ.get(ENV_VAR):
        path, source = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        path, source = Path("data"), "the default ./data"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    if not path.is_dir():
        raise SuiteError(f"data directory {path} does not exist (from {source}); "
                         f"pass --data-dir or set ${ENV_VAR}")
    return path
