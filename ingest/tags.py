"""User tags on ingested files: ``docqa ingest PATH --tag team=legal --tag year=2024``.

A tag is ``key=value``. Keys are names a filter can use (letters, digits, ``_``) and may not shadow a
built-in field or a key DocQA keeps in every passage's meta (``page``, ``title``...). Values that read as
numbers are stored as numbers, so ``year >= 2020`` compares numbers; anything else is text. One key has
one kind in an index: a key that holds numbers in indexed files refuses a text value (and the reverse),
because a filter on a field of mixed kinds could not mean one thing (``year >= 2020`` against
``"unknown"``).

Per-file tags come from a sidecar ``tags.yaml`` in a file's folder (:func:`read_sidecar`): its entries
for the file are merged over the run's ``--tag`` tags.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from docqa.errors import InvalidInputError
from docqa.ingest.records import SourceFile

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_VALUE = 200
# Built-in metadata fields (SourceFile.metadata) and the keys ingest and retrieval put in passage meta.
RESERVED = frozenset(
    (
        *("file_name", "folder", "file_type", "title", "size", "page_count", "modified", "ingested"),
        *("source_key", "file", "kind", "sha256", "passage_index", "doc_start", "page", "pages"),
        *("page_offsets", "section", "paragraph_index", "ocr_boxes", "dense_score", "bm25_score"),
        *("score", "id", "content", "tags"),
    )
)


class TagError(InvalidInputError):
    field = "tags"


def tag_value(text: str) -> int | float | str:
    """``"2024"`` → 2024, ``"1.5"`` → 1.5, anything else stays text."""
    if re.fullmatch(r"[+-]?\d{1,15}", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)
    return text


def check_tags(tags: Mapping[str, Any]) -> dict[str, int | float | str]:
    """The tags as stored; :raises TagError: naming the bad tag."""
    out: dict[str, int | float | str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not KEY.match(key):
            raise TagError(f"tag {key!r}: a tag name is letters, digits and _ (starting with a letter)")
        if key in RESERVED:
            raise TagError(f"tag {key!r}: that name is a built-in field; choose another")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TagError(f"tag {key!r}: the value must be text or a number, got {value!r}")
        if isinstance(value, str):
            value = value.strip()
            if not value or len(value) > MAX_VALUE:
                raise TagError(f"tag {key!r}: the value must be 1 to {MAX_VALUE} characters")
            value = tag_value(value)
        elif value != value or value in (float("inf"), float("-inf")):
            raise TagError(f"tag {key!r}: the value must be a finite number")
        out[key] = value
    return out


def parse_tags(items: Iterable[str]) -> dict[str, int | float | str]:
    """``["team=legal", "year=2024"]`` → ``{"team": "legal", "year": 2024}``; :raises TagError:."""
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise TagError(f"tag {item!r}: write it as key=value, e.g. --tag team=legal")
        tags[key.strip()] = value
    return check_tags(tags)


def _kind(value: Any) -> str:
    return "text" if isinstance(value, str) else "number"


def check_kinds(tags: Mapping[str, Any], files: Iterable[SourceFile]) -> None:
    """Refuse a tag whose kind differs from the same key's in indexed files (see the module docstring)."""
    if not tags:
        return
    for source in files:
        for key, value in source.tags.items():
            if key in tags and _kind(tags[key]) != _kind(value):
                raise TagError(
                    f"tag {key!r}: {tags[key]!r} is {_kind(tags[key])}, but {key} is {_kind(value)} in "
                    f"{source.file_name} ({value!r}); one tag holds one kind of value"
                )


SIDECAR = "tags.yaml"


def read_sidecar(folder: Path) -> list[tuple[str, dict[str, int | float | str]]]:
    """The ``tags.yaml`` of ``folder``: (file name or glob pattern, tags) in file order; [] when none.

    The file maps names of files in that folder (or patterns such as ``"*.pdf"``) to tags::

        "*.pdf": {team: legal}
        lease-2024.pdf: {year: 2024, status: signed}

    :raises TagError: naming the sidecar and the entry that is wrong.
    """
    path = folder / SIDECAR
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise TagError(f"{path}: cannot be read as YAML ({err})") from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise TagError(f"{path}: must map file names (or patterns like '*.pdf') to tags")
    entries = []
    for pattern, tags in data.items():
        if not isinstance(pattern, str) or not isinstance(tags, dict):
            raise TagError(
                f"{path}: entry {pattern!r} must map a file name to tags, e.g. a.pdf: {{year: 2024}}"
            )
        try:
            entries.append((pattern, check_tags({str(k): v for k, v in tags.items()})))
        except TagError as err:
            raise TagError(f"{path}: {pattern}: {err}") from None
    return entries


def sidecar_tags(file: Path, cache: dict[Path, list]) -> dict[str, int | float | str] | None:
    """The tags the ``tags.yaml`` beside ``file`` gives it (every matching entry, later ones winning),
    None when no entry names it. ``cache`` holds each folder's sidecar for one run."""
    folder = file.parent
    if folder not in cache:
        cache[folder] = read_sidecar(folder)
    found: dict[str, int | float | str] | None = None
    for pattern, tags in cache[folder]:
        if fnmatch.fnmatchcase(file.name, pattern):
            found = {**(found or {}), **tags}
    return found
