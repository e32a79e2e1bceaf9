"""DocQA: one installed package. ``from docqa import DocQA`` is the public Python API.

The layers are subpackages — ``docqa.ingest``, ``docqa.pipelines``, ``docqa.app`` (mapped from the
repository's ``ingest/``, ``pipelines/``, ``app/`` folders by ``pyproject.toml``) — and the modules of
this folder are the foundations every layer uses.

Only things every layer needs live here: the error base class, the configuration (every ``DOCQA_*``
variable), the atomic-write helper and the location of the data DocQA ships (samples, compact reader).
No foundation module imports ``ingest``, ``pipelines`` or ``app``, so the flow files → ingest → store ←
pipelines
← app never loops back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from docqa.pipelines.api import DocQA

__all__ = ["DocQA"]


def __getattr__(name: str) -> Any:
    """``from docqa import DocQA`` — the public API — without making the foundations import the layers.

    Why lazy: ``docqa.errors`` and ``docqa.config`` are imported by every layer (``ingest`` first of all);
    importing ``docqa.pipelines.api`` eagerly here would pull Haystack and the stores into a process that
    only loads files, and close an import cycle (foundations → pipelines → ingest → foundations).
    """
    if name == "DocQA":
        from docqa.pipelines.api import DocQA

        return DocQA
    raise AttributeError(f"module 'docqa' has no attribute {name!r}")
