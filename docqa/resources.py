"""Where the data DocQA ships lives: sample documents, example questions, the compact reader.

Why a package and not a path next to the source: a plain ``pip install .`` or a wheel copies packages,
not folders beside them. ``data/`` is installed as the package ``docqa.data`` (see ``pyproject.toml``'s
``package-dir``), so the same lookup works in an editable checkout, a regular install and a wheel.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir() -> Path:
    """The installed ``data/`` folder (``docqa.data``)."""
    return Path(str(resources.files("docqa.data")))


def data_path(*parts: str) -> Path:
    """A file or folder inside the shipped data, e.g. ``data_path("samples")``."""
    return data_dir().joinpath(*parts)
