"""Filters on the local store: which rows of each segment a filter lets through, before anything is ranked.

Why a column table of *files*: every filterable field is a property of the file a passage comes from
(``docqa.pipelines.document_stores.filters``), and an index has ~55 passages per file, so 100k passages
are ~1,800 files. A filter is evaluated with numpy over one column per field (a few microseconds per
condition), the passing files become a boolean per file, and each segment turns that into a row mask with
one gather through its row → file code array. The table and the code arrays are built once per catalog
generation (one ``SELECT vid, file_key`` over the passages) and shared by every query until the next
commit. The searcher then ranks only allowed rows: an exact scan over the allowed rows when they are few,
FAISS with an ID selector of them otherwise, BM25 with the others' scores zeroed (``searcher.py``).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from docqa.pipelines.document_stores.filters import Kind, value_kind

_ORDER = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class _Column:
    """One field over every unit (file): numbers as float64, text and dates as a numpy string array,
    with ``present`` false where the unit has no value."""

    def __init__(self, values: Sequence[Any], kind: Kind | None) -> None:
        present = [v is not None and value_kind(v) is not None for v in values]
        if kind is None:
            kinds = {value_kind(v) for v, p in zip(values, present, strict=True) if p}
            kind = "number" if kinds == {"number"} else "text"
        self.numeric = kind == "number"
        if self.numeric:
            present = [p and value_kind(v) == "number" for v, p in zip(values, present, strict=True)]
            self.data = np.array([float(v) if p else np.nan for v, p in zip(values, present, strict=True)])
        else:
            present = [p and isinstance(v, str) for v, p in zip(values, present, strict=True)]
            self.data = np.array([v if p else "" for v, p in zip(values, present, strict=True)], dtype=str)
        self.present = np.array(present, dtype=bool)

    def _same_kind(self, value: Any) -> bool:
        return (value_kind(value) == "number") == self.numeric

    def compare(self, operator: str, value: Any) -> np.ndarray:
        """Haystack's semantics on one column: a unit without the field fails ==, in and ordering."""
        if operator in ("in", "not in"):
            values = [v for v in value if self._same_kind(v)]
            hit = self.present & np.isin(self.data, np.array(values, dtype=self.data.dtype))
            return hit if operator == "in" else ~hit
        if not self._same_kind(value):
            hit = np.zeros(len(self.present), dtype=bool)
            return ~hit if operator == "!=" else hit
        data = self.data
        if operator in ("==", "!="):
            hit = self.present & (data == value)
            return hit if operator == "==" else ~hit
        with np.errstate(invalid="ignore"):
            return self.present & _ORDER[operator](data, value)


class MetaTable:
    """The metadata of every unit (file, or passage for an in-memory index) as columns.

    :param metas: one metadata dict per unit.
    :param kinds: each field's kind (``filters.field_kinds``); None infers it from the values.
    """

    def __init__(self, metas: Sequence[Mapping[str, Any]], kinds: Mapping[str, Kind] | None = None) -> None:
        self.size = len(metas)
        self._metas = metas
        self._kinds = kinds
        self._columns: dict[str, _Column] = {}

    def column(self, name: str) -> _Column:
        if name not in self._columns:
            kind = None if self._kinds is None else self._kinds.get(name)
            self._columns[name] = _Column([m.get(name) for m in self._metas], kind)
        return self._columns[name]

    def select(self, filters: Mapping[str, Any]) -> np.ndarray:
        """A boolean per unit: does it pass ``filters`` (as ``filters.check_filters`` returned it)?"""
        operator = filters["operator"]
        if operator in ("AND", "OR", "NOT"):
            parts = [self.select(c) for c in filters["conditions"]]
            both = np.logical_and.reduce(parts) if operator != "OR" else np.logical_or.reduce(parts)
            return ~both if operator == "NOT" else both
        return self.column(filters["field"][5:]).compare(operator, filters["value"])


@dataclass
class RowFilter:
    """The rows a filter lets through, per segment name (live rows only), and how many files passed."""

    allowed: dict[str, np.ndarray]
    files: int
    of_files: int

    def rows(self, name: str) -> np.ndarray | None:
        return self.allowed.get(name)


def unit_codes(segment_vids: np.ndarray, vids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each row of a segment, the unit (file) code of its vid, -1 when the catalog has none (deleted).

    :param vids: every live passage's vid, sorted; :param codes: the unit code of each.
    """
    segment_vids = np.asarray(segment_vids, dtype=np.int64)
    if not len(vids):
        return np.full(len(segment_vids), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(vids, segment_vids), len(vids) - 1)
    return np.where(vids[pos] == segment_vids, codes[pos], -1)


def row_masks(unit_passes: np.ndarray, segment_codes: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each segment's rows whose unit passes (a row with no unit, -1, never does)."""
    passes = np.append(unit_passes, False)  # code -1 reads the extra False
    return {name: passes[codes] for name, codes in segment_codes.items()}
