"""suite: run and compare experiments with pair-comparison (Siamese) networks.

The Python API for users (suite.run, suite.open, suite.compare: docs/python-api.md) and the task-author API, re-exported
here so a script or a task imports from `suite` alone (see docs/architecture.md). Names are
resolved on first use (PEP 562), so `import suite` stays cheap: the command line starts without torch.
"""

import importlib

__version__ = "0.1.0"

# public name → the module that defines it
_EXPORTS = {
    "run": "suite.api",
    "open": "suite.api",
    "compare": "suite.api",
    "Experiment": "suite.api",
    "Results": "suite.api",
    "Task": "suite.core.registry",
    "Split": "suite.core.registry",
    "ROUND_STATE": "suite.core.registry",
    "NamedRegistry": "suite.core.registry",
    "Lazy": "suite.core.registry",
    "BaseConfig": "suite.core.config",
    "option": "suite.core.config",
    "shared_option": "suite.core.config",
    "flag": "suite.core.config",
    "SuiteError": "suite.core.errors",
    "Metric": "suite.core.metrics",
    "percent": "suite.core.metrics",
    "SweepPreset": "suite.core.grid",
    "cumulative": "suite.core.grid",
    "roc_rates": "suite.results.roc",
}
# public submodules: the grouped layers a model's `forward_stacked` is built from
_MODULES = {"grouped": "suite.training.grouped"}

__all__ = ["__version__", *_EXPORTS, *_MODULES]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'suite' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
