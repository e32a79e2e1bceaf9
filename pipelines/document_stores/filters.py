"""Metadata filters in Haystack's filter syntax: checking them, and evaluating them over file metadata.

The syntax is Haystack's (``haystack.utils.filters``)::

    {"operator": "AND", "conditions": [
        {"field": "meta.file_type", "operator": "==", "value": "pdf"},
        {"field": "meta.year", "operator": ">=", "value": 2020}]}

with ``==, !=, >, >=, <, <=, in, not in`` and ``AND, OR, NOT`` (NOT is "not all of its conditions", as
Haystack evaluates it). ``meta.`` in front of a field is optional.

What can be filtered: the metadata of the *file* a passage comes from (``SourceFile.metadata()``), which every
passage carries in its meta too — built-in fields (:data:`BUILT_IN`) and the user's tags. Why file-level
only: every field the issue's users asked for (type, folder, dates, tags) is a property of a file, and it
lets the local store evaluate a filter over a few thousand file records instead of every passage (see
``local/searcher.py``), while Milvus evaluates the same semantics as a boolean expression on each row's
``meta`` (``milvus/expressions.py``).

Semantics are Haystack's ``document_matches_filter`` (the contract tests compare against it): a passage
without the field fails ``==``, ``>``... and ``in``, and passes ``!=`` and ``not in``. Checking first
(:func:`check_filters`) makes them typed: every field has one kind — text, number or date — and a value of
another kind is an :class:`FilterError` naming the field, instead of Haystack's silent False (``==``) or its
error halfway through a search (``>`` on text). Dates are compared as UTC instants: values are normalised
to ``YYYY-MM-DDTHH:MM:SS+00:00`` (a date alone is midnight UTC) so that comparing the strings compares the
instants, in Python and in a Milvus expression alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Literal

from docqa.errors import InvalidInputError
from docqa.ingest.records import SourceFile, iso_utc

Kind = Literal["text", "number", "date"]

BUILT_IN: dict[str, Kind] = {
    "file_name": "text",
    "folder": "text",  # the file's folder relative to the path given to ingest ("" at its top)
    "file_type": "text",  # the extension, lower case, without the dot: "pdf", "docx", "txt"
    "title": "text",  # PDF info / DOCX core properties / HTML <title>; "" when the loader found none
    "size": "number",  # bytes
    "page_count": "number",
    "modified": "date",  # the file's mtime when it was ingested
    "ingested": "date",
}
COMPARISONS = ("==", "!=", ">", ">=", "<", "<=", "in", "not in")
ORDERING = (">", ">=", "<", "<=")
LOGIC = ("AND", "OR", "NOT")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_LIST = 10_000  # values in one "in" list: a bound on the expression sent to Milvus


class FilterError(InvalidInputError):
    """A filter that cannot be applied; the message names the field or the part at fault."""

    field = "filters"


def value_kind(value: Any) -> Kind | None:
    """text or number for a tag value (None for anything a tag cannot hold)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return "number"
    if isinstance(value, str):
        return "text"
    return None


def field_kinds(files: Iterable[SourceFile]) -> dict[str, Kind]:
    """Every field a filter may name in an index: the built-in ones and each tag any file carries."""
    kinds = dict(BUILT_IN)
    for source in files:
        for key, value in (getattr(source, "tags", {}) or {}).items():
            kind = value_kind(value)
            if kind and key not in BUILT_IN:
                kinds[key] = "text" if kinds.get(key, kind) != kind else kind
    return kinds


def _bare(field: Any) -> str:
    if not isinstance(field, str):
        raise FilterError(f"filters: a condition's 'field' must be a string, got {field!r}")
    name = field[5:] if field.startswith("meta.") else field
    if not FIELD_NAME.match(name):
        raise FilterError(f"filters: field {field!r} is not a metadata field name (letters, digits, _)")
    return name


def _date_value(name: str, value: Any) -> str:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return iso_utc(datetime(value.year, value.month, value.day))
    if isinstance(value, str):
        try:
            return iso_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            pass
    raise FilterError(f"filters: field '{name}' holds dates; {value!r} is not an ISO date like 2024-05-31")


def _typed(name: str, kind: Kind, value: Any) -> Any:
    if kind == "date":
        return _date_value(name, value)
    if kind == "number":
        if value_kind(value) == "number":
            return value
        raise FilterError(f"filters: field '{name}' holds numbers; got {value!r}")
    if isinstance(value, str):
        return value
    raise FilterError(f"filters: field '{name}' holds text; got {value!r} (quote it to compare as text)")


def check_filters(filters: Mapping[str, Any] | None, kinds: Mapping[str, Kind] | None = None) -> dict | None:
    """The filter with fields as ``meta.NAME`` and values normalised (dates as UTC ISO text).

    :param kinds: the fields the index knows (:func:`field_kinds`); None (a store that cannot list its
        tags, e.g. a Milvus host without the manifest): built-in fields are checked, others taken as tags
        of any kind.
    :raises FilterError: naming the field or the part that is wrong.
    """
    if filters is None or filters == {}:
        return None
    return _check(filters, kinds, "filters")


def _check(node: Any, kinds: Mapping[str, Kind] | None, where: str) -> dict:
    if not isinstance(node, Mapping):
        raise FilterError(f"{where}: a filter must be an object with 'operator', got {node!r}")
    operator = node.get("operator")
    if "conditions" in node or operator in LOGIC:
        if operator not in LOGIC:
            raise FilterError(f"{where}: unknown logical operator {operator!r}; use AND, OR or NOT")
        conditions = node.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise FilterError(f"{where}: {operator} needs a non-empty list 'conditions'")
        return {
            "operator": operator,
            "conditions": [_check(c, kinds, f"{where}.conditions[{i}]") for i, c in enumerate(conditions)],
        }
    if operator not in COMPARISONS:
        raise FilterError(f"{where}: unknown operator {operator!r}; use one of {', '.join(COMPARISONS)}")
    if "field" not in node or "value" not in node:
        raise FilterError(f"{where}: a comparison needs 'field', 'operator' and 'value'")
    name = _bare(node["field"])
    kind = BUILT_IN.get(name) if kinds is None else kinds.get(name)
    if kind is None and kinds is not None:
        known = ", ".join(sorted(kinds))
        raise FilterError(f"filters: unknown field '{name}'; the index has: {known}")
    value = node["value"]
    if operator in ("in", "not in"):
        if not isinstance(value, list | tuple) or len(value) > MAX_LIST:
            raise FilterError(f"filters: '{operator}' on field '{name}' needs a list of values")
        values = [_any_or_typed(name, kind, v, operator) for v in value]
        return {"field": f"meta.{name}", "operator": operator, "value": values}
    typed = _any_or_typed(name, kind, value, operator)
    return {"field": f"meta.{name}", "operator": operator, "value": typed}


def _any_or_typed(name: str, kind: Kind | None, value: Any, operator: str) -> Any:
    if kind is None:  # a tag a Milvus-only host cannot see the type of
        kind = "number" if value_kind(value) == "number" else "text"
        if value_kind(value) is None:
            raise FilterError(f"filters: field '{name}': {value!r} is neither text nor a number")
    if operator in ORDERING and kind == "text":
        raise FilterError(f"filters: field '{name}' holds text; '{operator}' needs a number or date field")
    return _typed(name, kind, value)


def matches(meta: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """Does ``meta`` pass a filter :func:`check_filters` returned (Haystack's semantics)?"""
    if filters is None:
        return True
    operator = filters["operator"]
    if operator == "AND":
        return all(matches(meta, c) for c in filters["conditions"])
    if operator == "OR":
        return any(matches(meta, c) for c in filters["conditions"])
    if operator == "NOT":
        return not all(matches(meta, c) for c in filters["conditions"])
    have = meta.get(filters["field"][5:])
    value = filters["value"]
    if operator == "==":
        return have is not None and have == value
    if operator == "!=":
        return not (have is not None and have == value)
    if operator == "in":
        return have is not None and have in value
    if operator == "not in":
        return not (have is not None and have in value)
    if have is None or isinstance(have, str) != isinstance(value, str):
        return False
    if operator == ">":
        return have > value
    if operator == ">=":
        return have >= value
    if operator == "<":
        return have < value
    return have <= value


def matching_files(files: Mapping[str, SourceFile], filters: Mapping[str, Any] | None) -> set[str]:
    """Keys of the files whose metadata passes ``filters`` (already checked)."""
    return {key for key, source in files.items() if matches(source.metadata(), filters)}
