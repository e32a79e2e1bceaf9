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

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Private by default, whichever way DocQA is entered. Haystack reports usage to PostHog unless
# HAYSTACK_TELEMETRY_ENABLED says otherwise, and it reads that once, when it is first imported. Every way in
# (the Python API, the CLI and the service, which are modules of this package) passes here first; before,
# ``from docqa import DocQA`` did not set it and its pipeline runs tried to reach eu.i.posthog.com. The page's
# launcher also sets it for its Streamlit child, before that process imports anything. Whoever sets the
# variable themselves still decides.
if "HAYSTACK_TELEMETRY_ENABLED" not in os.environ:
    os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
    _haystack_telemetry = sys.modules.get("haystack.telemetry._telemetry")
    if _haystack_telemetry is not None:  # Haystack was imported first: switch off its live client
        _haystack_telemetry.telemetry = None

# A source checkout that is not installed (``PYTHONPATH=.`` on a machine with no registry, e.g. a lent GPU
# machine running scripts/): the layers live beside this folder (app/, pipelines/, ingest/, data/), where
# setuptools' package-dir maps them when installed. Looking there too makes ``docqa.pipelines`` import the
# same files either way. An installed docqa (wheel) has its subpackages inside this folder and skips this.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "pipelines" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))  # noqa: F821 - a package's __path__

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
