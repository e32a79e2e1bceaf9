"""FAQ files: reading and validating what a support team hands us (CSV, JSON or YAML).

An FAQ file is a CSV with ``question,answer`` columns, or a JSON/YAML list of ``{question, answer}``
objects. Why a module of its own: validation is the part users meet first and the part most likely to
fail, and it needs neither the index nor a model — the CLI, the page and the HTTP service validate an
upload before anything is embedded or stored. Every problem is collected (file, row or entry, field) so
that one round trip fixes the whole file; nothing is loaded when any row is bad.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docqa.errors import InvalidInputError
from docqa.ingest.tags import TagError, check_tags, parse_tags

FAQ_SUFFIXES = {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 20_000
MAX_ENTRIES = 10_000
MAX_PROBLEMS_SHOWN = 20
# An FAQ file is a list of flat {question, answer} objects: two or three levels. json and PyYAML parse
# nesting recursively, so a 200,000-deep "[[[[..." raised RecursionError (a traceback, a 500 from the
# service); now it is this file's one-line problem.
TOO_DEEP = (
    "nested too deeply to be an FAQ file (a list of {question, answer} entries is 2-3 levels deep)"
)


class FaqFileError(InvalidInputError):
    """An FAQ file cannot be loaded. ``problems`` names the file and the row or field of each problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  ... and {more} more" if more > 0 else "")
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}; nothing was loaded:\n{lines}")


def normalise_question(text: str) -> str:
    """The identity of an FAQ question: case, white space and trailing punctuation do not matter."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).rstrip(" ?!.")


def entry_id(question: str) -> str:
    """A short id derived from the normalised question, so re-loading a file keeps every entry's id."""
    return hashlib.sha256(normalise_question(question).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class FaqEntry:
    """One curated question and its answer; ``id`` is stable across reloads (see :func:`entry_id`)."""

    question: str
    answer: str
    # Tags (``team: hr``), as on documents: a filtered question only matches entries whose tags pass it.
    tags: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def id(self) -> str:
        return entry_id(self.question)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "question": self.question, "answer": self.answer}
        if self.tags:
            out["tags"] = dict(self.tags)
        return out



def faq_format(name: str) -> str:
    """``csv``, ``json`` or ``yaml`` from a file name. :raises FaqFileError: for any other suffix."""
    suffix = Path(name).suffix.lower()
    if suffix not in FAQ_SUFFIXES:
        raise FaqFileError(
            name,
            [f"unsupported FAQ file type '{suffix or name}' (use .csv with question,answer columns, "
             f".json or .yaml)"],
        )
    return FAQ_SUFFIXES[suffix]


def _decode(data: bytes, source: str) -> str:
    from docqa.ingest.loaders import decode_text

    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FaqFileError(source, ["binary data, not a text file"])
    text, _note = decode_text(data)
    return text


def _entry_tags(where: str, tags: Any, problems: list[str]) -> dict[str, Any]:
    """An entry's tags: a mapping (JSON/YAML) or ``key=value; key=value`` text (CSV); bad ones named."""
    if tags is None or tags == "":
        return {}
    try:
        if isinstance(tags, str):
            return parse_tags(part for part in tags.split(";") if part.strip())
        if isinstance(tags, dict):
            return check_tags({str(k): v for k, v in tags.items()})
    except TagError as err:
        problems.append(f"{where}: {err}")
        return {}
    problems.append(f"{where}: field 'tags' must be key=value pairs or a mapping, not {type(tags).__name__}")
    return {}


def _check_entry(
    where: str, question: Any, answer: Any, problems: list[str], tags: Any = None
) -> FaqEntry | None:
    before = len(problems)
    checked_tags = _entry_tags(where, tags, problems)
    values = {}
    checks = (("question", question, MAX_QUESTION_CHARS), ("answer", answer, MAX_ANSWER_CHARS))
    for name, value, limit in checks:
        if value is None:
            problems.append(f"{where}: field '{name}' is missing")
        elif not isinstance(value, str):
            problems.append(f"{where}: field '{name}' must be text, not {type(value).__name__}")
        elif not value.strip():
            problems.append(f"{where}: field '{name}' is empty")
        elif len(value.strip()) > limit:
            problems.append(f"{where}: field '{name}' is {len(value.strip())} characters (at most {limit})")
        else:
            values[name] = " ".join(value.split()) if name == "question" else value.strip()
    if len(problems) > before:
        return None
    return FaqEntry(values["question"], values["answer"], checked_tags)


def _rows_from_csv(text: str, source: str) -> list[tuple[str, Any, Any, Any]]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise FaqFileError(source, ["the file is empty (expected a header row: question,answer)"]) from None
    except csv.Error as err:
        raise FaqFileError(source, [f"row 1: not valid CSV ({err})"]) from None
    columns = [h.strip().lstrip("\ufeff").casefold() for h in header]
    missing = [name for name in ("question", "answer") if name not in columns]
    if missing:
        raise FaqFileError(
            source,
            [f"row 1 (header): no column named {' or '.join(repr(m) for m in missing)}; "
             f"found {', '.join(repr(h) for h in header) or 'nothing'}"],
        )
    q_col, a_col = columns.index("question"), columns.index("answer")
    t_col = columns.index("tags") if "tags" in columns else None
    rows = []
    try:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank lines between entries are common in hand-edited files
            question = row[q_col] if q_col < len(row) else None
            answer = row[a_col] if a_col < len(row) else None
            tags = row[t_col] if t_col is not None and t_col < len(row) else None
            rows.append((f"row {number}", question, answer, tags))
    except csv.Error as err:
        raise FaqFileError(source, [f"row {reader.line_num}: not valid CSV ({err})"]) from None
    return rows


def _rows_from_list(data: Any, source: str) -> list[tuple[str, Any, Any, Any]]:
    if isinstance(data, dict):
        # Accept {"faq": [...]} / {"entries": [...]} as well as a bare list.
        for key in ("faq", "faqs", "entries", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise FaqFileError(
            source,
            [f"expected a list of {{question, answer}} entries at the top level, "
             f"found {type(data).__name__}"],
        )
    rows = []
    for number, item in enumerate(data, start=1):
        where = f"entry {number}"
        if not isinstance(item, dict):
            rows.append((where, _NotAMapping(type(item).__name__), None, None))
            continue
        lowered = {str(k).strip().casefold(): v for k, v in item.items()}
        rows.append((where, lowered.get("question"), lowered.get("answer"), lowered.get("tags")))
    return rows


@dataclass
class _NotAMapping:
    type_name: str


def parse_faq(data: bytes, source: str, fmt: str | None = None) -> list[FaqEntry]:
    """Parse the bytes of an FAQ file named ``source`` (the name is used in messages and for the format).

    :raises FaqFileError: listing every bad row/entry (file, row or entry number, field), duplicates
        included; nothing is loaded when any row is bad.
    """
    fmt = fmt or faq_format(source)
    text = _decode(data, source)
    if not text.strip():
        raise FaqFileError(source, ["the file is empty"])
    if fmt == "csv":
        rows = _rows_from_csv(text, source)
    elif fmt == "json":
        try:
            parsed = json.loads(text)
        except RecursionError:
            raise FaqFileError(source, [TOO_DEEP]) from None
        except json.JSONDecodeError as err:
            raise FaqFileError(source, [f"line {err.lineno}, column {err.colno}: invalid JSON ({err.msg})"]) \
                from None
        rows = _rows_from_list(parsed, source)
    elif fmt == "yaml":
        import yaml

        try:
            parsed = yaml.safe_load(text)
        except RecursionError:
            raise FaqFileError(source, [TOO_DEEP]) from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise FaqFileError(source, [f"{where}invalid YAML ({problem})"]) from None
        rows = _rows_from_list(parsed, source)
    else:
        raise ValueError(f"unknown FAQ format {fmt!r}")

    problems: list[str] = []
    entries: list[FaqEntry] = []
    first_seen: dict[str, str] = {}
    for where, question, answer, tags in rows:
        if isinstance(question, _NotAMapping):
            problems.append(
                f"{where}: expected an object with 'question' and 'answer', found {question.type_name}"
            )
            continue
        entry = _check_entry(where, question, answer, problems, tags)
        if entry is None:
            continue
        key = normalise_question(entry.question)
        if key in first_seen:
            problems.append(f"{where}: duplicate question (same as {first_seen[key]}): {entry.question!r}")
            continue
        first_seen[key] = where
        entries.append(entry)
    if not rows:
        problems.append("no FAQ entries in the file")
    if len(entries) > MAX_ENTRIES:
        problems.append(f"{len(entries)} entries; at most {MAX_ENTRIES} are supported")
    if problems:
        raise FaqFileError(source, problems)
    return entries


def read_faq_file(path: str | Path) -> list[FaqEntry]:
    """Read and validate an FAQ file from disk. :raises FaqFileError: see :func:`parse_faq`."""
    path = Path(path).expanduser()
    fmt = faq_format(path.name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FaqFileError(str(path), ["no such file"]) from None
    except IsADirectoryError:
        raise FaqFileError(str(path), ["is a directory, not a file"]) from None
    except OSError as err:
        raise FaqFileError(str(path), [f"cannot read file: {err.strerror or err}"]) from None
    return parse_faq(data, str(path), fmt)



def read_faq(source: str | Path | bytes, name: str | None = None) -> tuple[list[FaqEntry], str]:
    """The entries of an FAQ given as a path or as the file's bytes, and the file name to report.

    :param name: for bytes, the file's name (it decides the format and appears in messages).
    :raises FaqFileError: see :func:`parse_faq`.
    """
    if isinstance(source, bytes):
        label = name or "faq"
        return parse_faq(source, label), Path(label).name
    label = name or str(source)
    return read_faq_file(source), Path(label).name
