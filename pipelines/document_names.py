"""How a user names an indexed document: a path, the indexed path, or a unique file name.

Why its own module: the CLI (`docqa delete NAME`), the service (``DELETE /documents/{name}``) and the page
resolve names the same way, and a bare name that matches several files must be refused, not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from docqa.errors import NotFoundError
from docqa.ingest.records import SourceFile


class DocumentNotFoundError(NotFoundError):
    """No indexed document matches the name the user gave; ``str(err)`` says which name."""


def find_documents(documents: Sequence[SourceFile], name: str) -> list[SourceFile]:
    """The documents ``name`` means: exact keys first, else the one file of that name.

    :raises DocumentNotFoundError: when nothing matches, or a bare file name matches several files.
    """
    resolved = str(Path(name).expanduser().resolve())
    exact = [d for d in documents if d.key in (name, resolved)]
    if exact:
        return exact
    by_name = [d for d in documents if d.file_name == name or Path(d.key).name == Path(name).name]
    if len(by_name) == 1:
        return by_name
    if not by_name:
        raise DocumentNotFoundError(f"No indexed document matches '{name}' (see `docqa documents`).")
    listing = ", ".join(d.key for d in by_name)
    raise DocumentNotFoundError(
        f"'{name}' matches several indexed documents ({listing}); give the full path."
    )
