"""Filters as the front ends meet them: checked against what an index holds, counted, and written short.

- :class:`IndexFilters` checks a filter (Haystack syntax) against the fields of one index — the built-in
  ones and the tags its files carry — so that a tag name typed wrong is refused naming it on *both*
  stores (a Milvus store alone cannot list the tags: they are in the manifest). The fields are read once
  per index generation, not per question.
- :func:`parse_filter_expressions` reads the CLI's short form, ``--filter 'file_type == pdf' --filter
  'year >= 2020' --filter 'folder in [legal, hr]'``, into the same structure (the expressions are ANDed).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from docqa.pipelines.document_stores.filters import (
    COMPARISONS,
    FilterError,
    Kind,
    check_filters,
    field_kinds,
    matching_files,
)
from docqa.pipelines.document_stores.protocols import IndexStore, StoreCatalog


class IndexFilters:
    """Filters checked against one index's fields (cached per commit: ``current_name``)."""

    def __init__(self, catalog: StoreCatalog, index: IndexStore) -> None:
        self.catalog, self.index = catalog, index
        self._lock = threading.Lock()
        self._cached: tuple[str | None, dict[str, Kind]] | None = None

    def fields(self) -> dict[str, Kind]:
        """Every field a filter may name here, with its kind ("text", "number", "date")."""
        token = self.index.current_name()
        with self._lock:
            if self._cached is None or self._cached[0] != token:
                self._cached = (token, field_kinds(self.catalog.files().values()))
            return dict(self._cached[1])

    def check(self, filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The filter normalised (None for no filter). :raises FilterError: naming the field."""
        if not filters:
            return None
        if not isinstance(filters, Mapping):
            raise FilterError(f"filters must be an object in Haystack's filter syntax, got {filters!r}")
        return check_filters(filters, self.fields())

    def scope(self, filters: Mapping[str, Any] | None) -> tuple[int, int]:
        """(documents a filter lets through, documents indexed): "searched 12 of 340 documents"."""
        files = self.catalog.files()
        if not filters:
            return len(files), len(files)
        return len(matching_files(files, self.check(filters))), len(files)


_OPERATORS = sorted(COMPARISONS, key=len, reverse=True)  # "not in" before "in", ">=" before ">"
_EXPRESSION = re.compile(
    r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>"
    + "|".join(re.escape(o).replace("\\ ", r"\s+") for o in _OPERATORS)
    + r")\s*(?P<value>.*?)\s*$"
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _scalar(text: str, item: str) -> Any:
    """A quoted value stays text; a number-looking one is a number; anything else is text."""
    text = text.strip()
    if not text:
        raise FilterError(f"--filter {item!r}: the value is missing")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if _NUMBER.match(text):
        number = float(text)
        return int(number) if re.fullmatch(r"[+-]?\d+", text) else number
    return text


def _values(text: str, item: str) -> list[Any]:
    if not (text.startswith("[") and text.endswith("]")):
        raise FilterError(f"--filter {item!r}: 'in' needs a list like [legal, hr]")
    inner = text[1:-1]
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[^,]+", inner)
    return [_scalar(p, item) for p in parts if p.strip()]


def parse_filter_expression(item: str) -> dict[str, Any]:
    """``"year >= 2020"`` → ``{"field": "meta.year", "operator": ">=", "value": 2020}``.

    :raises FilterError: naming the expression and the part that is wrong.
    """
    match = _EXPRESSION.match(item)
    if match is None:
        field = item.strip().split(" ")[0] if item.strip() else ""
        raise FilterError(
            f"--filter {item!r}: no operator after {field!r}; write FIELD OPERATOR VALUE, e.g. "
            f"'file_type == pdf' (operators: {', '.join(COMPARISONS)})"
        )
    field, operator, value = match["field"], re.sub(r"\s+", " ", match["op"]), match["value"]
    field = field if field.startswith("meta.") else f"meta.{field}"
    if operator in ("in", "not in"):
        return {"field": field, "operator": operator, "value": _values(value, item)}
    return {"field": field, "operator": operator, "value": _scalar(value, item)}


def parse_filter_expressions(items: Iterable[str]) -> dict[str, Any] | None:
    """Several ``--filter`` expressions, ANDed, in Haystack's filter syntax (None when there are none)."""
    conditions = [parse_filter_expression(item) for item in items]
    if not conditions:
        return None
    return {"operator": "AND", "conditions": conditions}
