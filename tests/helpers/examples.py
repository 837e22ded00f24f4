"""The example projects under ``projects/``, whose data generators tests load by path."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
PROJECTS = REPO / "projects"


def load_module(path: Path, name: str, *, register: bool = False) -> ModuleType:
    """Import the Python file at ``path`` as module ``name`` (it is in no package).

    Args:
        path: The file.
        name: The module's ``__name__``.
        register: Also put it in ``sys.modules``, for code (dataclasses, pickle) that looks
            its module up there.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def example_generator(example: str = "credit_default") -> ModuleType:
    """The ``generate.py`` of ``projects/<example>``, with its ``generate_month``.

    Loaded once per process: the generators keep no state (each month seeds its own).
    """
    return load_module(PROJECTS / example / "generate.py", f"{example}_generate")


def credit_month(month: int, rows: int = 1500) -> bytes:
    """Month ``month`` of the credit-default example as CSV bytes."""
    return example_generator().generate_month(month, rows=rows).to_csv(index=False).encode()
