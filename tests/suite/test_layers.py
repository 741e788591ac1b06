"""The package's layers point one way (docs/architecture.md): a module imports only from its own layer or lower,
and nothing in suite/ imports the tasks."""

import ast
from pathlib import Path

import pytest

import suite
from tests.conftest import REPO

# lowest first; `suite/__init__.py` (the public API, resolved lazily) and the command line sit above them all
LAYERS = ("core", "training", "results", "execution", "report", "api", "cli")
PUBLIC = set(suite.__all__)


def layer_of(module: str) -> int | None:
    """The layer of a dotted module name inside suite, or None for the package itself."""
    parts = module.split(".")
    if parts[0] != "suite" or len(parts) == 1 or parts[1] == "__version__":
        return None
    name = "cli" if parts[1] in ("cli", "__main__") else parts[1]
    if name not in LAYERS:
        raise AssertionError(f"{module}: not in any layer; add it to a layer package or to LAYERS")
    return LAYERS.index(name)


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, also those inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                base = ".".join(module.split(".")[:-node.level] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def layer_violations(root: Path) -> list[str]:
    """Every import under root/suite that points to a higher layer, or to the tasks."""
    problems = []
    for path in sorted((root / "suite").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        if module == "suite.__init__":
            continue
        own = layer_of(module)
        for line, target in imported_modules(path, module):
            where = f"{path.relative_to(root)}:{line}"
            if target.split(".")[0] == "suite_tasks":
                problems.append(f"{where}: the framework imports the tasks ({target})")
            elif target.startswith("suite.") and target.split(".")[1] in PUBLIC:
                problems.append(f"{where}: imports {target} through the public API; import its own module")
            elif target.startswith("suite."):
                theirs = layer_of(target)
                if theirs is not None and own is not None and theirs > own:
                    problems.append(f"{where}: {LAYERS[own]} imports {target} ({LAYERS[theirs]}, a higher layer)")
    return problems


def test_layers_point_one_way() -> None:
    assert layer_violations(REPO) == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    for name, text in {"core/low.py": "from suite.report import plots\n",
                       "training/fine.py": "from suite.core import low\n",
                       "results/lazy.py": "def f():\n    from suite.execution import runner\n",
                       "core/tasks.py": "import suite_tasks.mnist_pairs\n"}.items():
        path = tmp_path / "suite" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    problems = layer_violations(tmp_path)
    assert len(problems) == 3
    assert any("core/low.py:1: core imports suite.report.plots (report" in p for p in problems)
    assert any("results/lazy.py:2: results imports suite.execution.runner (execution" in p for p in problems)
    assert any("the framework imports the tasks" in p for p in problems)


def test_a_module_outside_every_layer_is_named(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "loose.py").write_text("x = 1\n")
    with pytest.raises(AssertionError, match="suite.loose: not in any layer"):
        layer_violations(tmp_path)


def test_tasks_import_only_the_public_api() -> None:
    problems = []
    for path in sorted((REPO / "suite_tasks").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        problems += [f"{path.relative_to(REPO)}:{line}: {target}" for line, target in imported_modules(path, module)
                     if target.startswith("suite.") and target.split(".")[1] not in PUBLIC]
    assert problems == []
