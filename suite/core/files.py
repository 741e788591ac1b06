"""Files written whole or not at all: beside their final name, then renamed into place, so a full disk or a kill
never leaves half a file where a whole one was (exports, saved models)."""

import os
from collections.abc import Callable
from pathlib import Path


def write_whole(path: Path, write: Callable[[Path], None]) -> None:
    """`write(partial)` fills a file beside `path`, which then replaces `path`; the partial file never stays."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
