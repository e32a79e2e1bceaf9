"""Finding the files an ingest considers, and where each sits below the path it was found under.

Split from the ingestor so that it stays one job: deciding what a path argument means (a file, or a
folder walked recursively without hidden entries) and the ``folder`` metadata filters select on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from docqa.ingest.records import SourceFile
from docqa.ingest.tags import SIDECAR


@dataclass
class Candidate:
    path: Path
    display: str
    folder: str = ""  # relative to the directory argument it was found under ("" for a file argument)


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def discover(paths: Iterable[Path | str]) -> tuple[list[Candidate], list[str]]:
    """Expand the path arguments into files to consider, and the arguments that do not exist.

    Directories are walked recursively; hidden files and directories (``.git``...) are ignored.
    Files with unsupported extensions come back as candidates and are reported as skipped later.
    """
    candidates: dict[Path, Candidate] = {}
    missing: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            missing.append(str(raw))
            continue
        if path.is_file():
            resolved = path.resolve()
            candidates.setdefault(resolved, Candidate(resolved, display(resolved)))
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or name == SIDECAR:  # tags.yaml: tags, not a document
                    continue
                resolved = (Path(root) / name).resolve()
                folder = Path(root).relative_to(path).as_posix()
                candidates.setdefault(
                    resolved, Candidate(resolved, display(resolved), "" if folder == "." else folder)
                )
    return list(candidates.values()), missing


def folder_of(found: str, known: SourceFile | None) -> str:
    """The file's folder: relative to the path given to this ingest, unless that path was one of the
    folders below the one it was first ingested from (``ingest docs`` then ``ingest docs/hr --tag ...``:
    the files stay in "hr", not "")."""
    if known is not None and (found == "" or known.folder.endswith("/" + found)):
        return known.folder
    return found
