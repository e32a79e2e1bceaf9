"""Readers a collection has promoted (the registry), the improve loop that makes them and its gate.

The names below load on first use (PEP 562): `docqa improve --help` and every other command import
:mod:`docqa.app.cli.models`, which needs only the gate's defaults, and importing the improve loop with them
(Haystack, PyTorch) cost each fresh `docqa ask` ~1.3 s, even one that a running service answers.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DEFAULT_MARGIN": "gate",
    "DEFAULT_TOLERANCE": "gate",
    "GateSettings": "gate",
    "ImproveResult": "improve",
    "ImproveSettings": "improve",
    "ImproveBusyError": "jobs",
    "JobNotFoundError": "jobs",
    "ModelEntry": "registry",
    "ModelNotFoundError": "registry",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
