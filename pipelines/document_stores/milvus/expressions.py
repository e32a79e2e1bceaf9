"""A checked filter (``document_stores.filters``) as a Milvus boolean expression over each row's ``meta``.

Why this shape: Milvus evaluates a comparison on a JSON key the row does not have as *null*, and ``not``
of null is null (measured on Milvus Lite: ``not (meta["x"] > 0)`` drops the rows without ``x``), while
Haystack's semantics say a passage without the field passes ``!=``, ``not in`` and ``NOT (x > 0)``. So
negations are pushed down to the comparisons (De Morgan) and each negated comparison says what it means
for a missing key: ``not (x == v)`` becomes ``((not exists meta["x"]) or meta["x"] != v)``. With no ``not``
above a null, AND/OR treat it as false, which is Haystack's answer for the positive comparisons.
``in`` on a JSON key is not supported by Milvus (``left side of 'in' must be a field reference``): it is
an OR of ``==``. Values are written as JSON literals (``client.literal``: quotes and backslashes escaped),
field names are identifiers (checked), so a value can never end the literal and add an expression of its
own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docqa.pipelines.document_stores.milvus.client import literal

_NEGATED = {"==": "!=", ">": "<=", ">=": "<", "<": ">=", "<=": ">"}


def _value(value: Any) -> str:
    if isinstance(value, str):
        return literal(value)
    text = repr(value)
    return f"{value:f}" if "e" in text or "E" in text else text


def _join(parts: list[str | bool], word: str) -> str | bool:
    """AND/OR of parts, folding the constants True/False (an empty ``in`` list is False)."""
    absorbing, neutral = (False, True) if word == "and" else (True, False)
    if absorbing in parts:
        return absorbing
    exprs = [p for p in parts if p is not neutral]
    if not exprs:
        return neutral
    return exprs[0] if len(exprs) == 1 else "(" + f" {word} ".join(exprs) + ")"  # type: ignore[arg-type]


def _leaf(name: str, operator: str, value: Any, negate: bool) -> str | bool:
    path = f"meta[{literal(name)}]"
    if operator in ("in", "not in"):
        negate = negate != (operator == "not in")
        parts: list[str | bool] = [_leaf(name, "==", v, negate) for v in value]
        return _join(parts, "and" if negate else "or")
    if operator == "!=":  # Haystack: not (x == v)
        operator, negate = "==", not negate
    if negate:  # a row without the key passes every negated comparison (Haystack's None semantics)
        return f"((not exists {path}) or {path} {_NEGATED[operator]} {_value(value)})"
    return f"{path} {operator} {_value(value)}"


def milvus_filter(filters: Mapping[str, Any] | None, negate: bool = False) -> str | bool:
    """The expression for a checked filter; True (no filter needed) or False (nothing can match)."""
    if filters is None:
        return True
    operator = filters["operator"]
    if operator in ("AND", "OR", "NOT"):
        if operator == "NOT":  # not all of them: AND under a negation
            operator, negate = "AND", not negate
        parts = [milvus_filter(c, negate) for c in filters["conditions"]]
        word = "and" if (operator == "AND") != negate else "or"
        return _join(parts, word)
    return _leaf(filters["field"][5:], operator, filters["value"], negate)
