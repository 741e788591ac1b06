"""What installing the project puts in site-packages: its own names only, and the metadata other tools read."""

import subprocess
import sys
from importlib.metadata import metadata

from tests.conftest import REPO


def test_no_top_level_tasks_module_outside_the_checkout(tmp_path) -> None:
    """The tasks install as suite_tasks: another project's `tasks` is not shadowed (nor ours by theirs)."""
    probe = ("import importlib.util, json; "
             "print(json.dumps([importlib.util.find_spec(n) is not None for n in ('tasks', 'suite_tasks')]))")
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[false, true]"
    located = subprocess.run([sys.executable, "-c", "import suite_tasks; print(suite_tasks.__file__)"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert located.stdout.strip() == str(REPO / "suite_tasks" / "__init__.py")


def test_metadata_names_the_licence_and_the_project() -> None:
    meta = metadata("suite")
    assert meta["License-Expression"] == "MIT" or "MIT" in (meta.get("License") or "")
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert any(c.startswith("Programming Language :: Python :: 3") for c in meta.get_all("Classifier"))
