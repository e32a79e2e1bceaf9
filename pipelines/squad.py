"""SQuAD 1.1 / 2.0 files, read once for training and both evaluations, and SQuAD answer normalisation.

Why one reader: ``docqa eval`` (retrieval and reader metrics), ``docqa train-reader`` and the benchmarks
all take SQuAD-format files, and they must agree on what a file means — which paragraphs exist, which
questions are answerable, what the gold answers are — and fail the same way on a bad file. Each user
derives its own view (passages, reader examples, training spans) from the :class:`SquadFile` this module
returns.

Why not ``json.load`` and index into it: annotated files that people make themselves (the point of
``docqa train-reader``) have missing fields, answers whose ``answer_start`` is a few characters off
(text edited after annotation, CRLF vs LF, a leading space) and empty files. A traceback from deep inside
training helps nobody; a report that says "question q17 in 'Manual', paragraph 3: answer 'reset
button' is not at answer_start 120" lets a person fix the file. Offsets that are off by a few
characters are repaired (the nearest occurrence of the answer text within ``max_shift`` characters) and
counted. Two reading modes:

- *lenient* (training): questions that cannot be used are skipped and counted; the rest still trains.
- *strict* (evaluation): the first broken paragraph or question raises, because a score over a silently
  shrunk question set would be misleading. Answers whose offset cannot be located still count as gold
  texts there (the official metric compares texts, not offsets).

SQuAD 1.1 has no ``is_impossible``: every question is answerable. In SQuAD 2.0, ``is_impossible: true``
questions are unanswerable (their ``plausible_answers`` are ignored). Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from docqa.errors import InvalidInputError

DEFAULT_MAX_SHIFT = 20  # characters an answer_start may be off and still be repaired

# Problem kinds, in the order a report lists their counts.
MISSING_FIELD = "missing field"
BAD_FIELD = "bad field"
ANSWER_NOT_AT_START = "answer not at answer_start"
DUPLICATE_ID = "duplicate id"
NO_USABLE_ANSWER = "no usable answer"

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD answer normalisation (official order): lower case, drop punctuation, articles, extra spaces.

    The one normaliser for comparing answers: the official metrics score with it and the reader merges
    answers whose normalised text is the same.
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


class SquadFileError(InvalidInputError):
    """A SQuAD file cannot be used (missing, not JSON, not SQuAD-shaped, a broken entry, no questions).

    ``str(err)`` names the file (and the article/paragraph/question) and says what to fix.
    """


@dataclass(frozen=True)
class AnswerSpan:
    """An answer located in its context: ``context[start:start + len(text)] == text``."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class SquadExample:
    """One question with its paragraph.

    ``answers`` are the located spans; ``gold_texts`` are all answer texts as given (what the official
    metric compares against, even where an offset could not be located). ``marked_impossible`` is the
    file's ``is_impossible`` flag.
    """

    qid: str
    question: str
    context: str
    title: str
    answers: tuple[AnswerSpan, ...]
    gold_texts: tuple[str, ...]
    marked_impossible: bool = False

    @property
    def is_impossible(self) -> bool:
        return not self.gold_texts


@dataclass(frozen=True)
class SquadParagraph:
    """One paragraph with its usable questions. ``article_index``/``paragraph_index`` are positions in the
    file (the latter within its article); ``number`` counts paragraphs across the whole file."""

    title: str
    context: str
    article_index: int
    paragraph_index: int
    number: int
    examples: tuple[SquadExample, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one question (or paragraph) of the file."""

    kind: str
    where: str  # "article 'Title', paragraph 3, question 'id'"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class SquadLoadReport:
    """What was read from one file: usable questions, repairs and problems (with counts)."""

    path: Path
    sha256: str = ""
    version: str = ""
    articles: int = 0
    paragraphs: int = 0
    questions_seen: int = 0
    answerable: int = 0
    unanswerable: int = 0
    repaired_offsets: int = 0
    skipped_questions: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return self.answerable + self.unanswerable

    def counts(self) -> dict[str, int]:
        """Problems per kind."""
        return dict(Counter(p.kind for p in self.problems))

    def summary(self) -> str:
        """One line: what was read and what was wrong."""
        line = (f"{self.path}: {self.usable} questions usable ({self.answerable} answerable, "
                f"{self.unanswerable} unanswerable) of {self.questions_seen} in {self.paragraphs} paragraphs")
        if self.repaired_offsets:
            line += f"; {self.repaired_offsets} answer offsets repaired"
        if self.skipped_questions:
            line += f"; {self.skipped_questions} questions skipped"
        if self.problems:
            line += "; problems: " + ", ".join(f"{n} × {k}" for k, n in self.counts().items())
        return line

    def format(self, max_problems: int = 20) -> str:
        """The summary plus the first ``max_problems`` problems, one per line."""
        lines = [self.summary()]
        lines += [f"  - {p}" for p in self.problems[:max_problems]]
        if len(self.problems) > max_problems:
            lines.append(f"  … and {len(self.problems) - max_problems} more problems")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "path": str(self.path), "sha256": self.sha256, "version": self.version,
            "articles": self.articles, "paragraphs": self.paragraphs,
            "questions_seen": self.questions_seen, "answerable": self.answerable,
            "unanswerable": self.unanswerable, "repaired_offsets": self.repaired_offsets,
            "skipped_questions": self.skipped_questions, "problem_counts": self.counts(),
        }


@dataclass
class SquadFile:
    """A SQuAD file as read: every paragraph that has a context (in file order) and the report."""

    path: Path
    paragraphs: list[SquadParagraph]
    report: SquadLoadReport

    @property
    def examples(self) -> list[SquadExample]:
        """Every usable question, in file order."""
        return [ex for paragraph in self.paragraphs for ex in paragraph.examples]


def locate_answer(context: str, text: str, start: object, max_shift: int = DEFAULT_MAX_SHIFT
                  ) -> tuple[int | None, bool]:
    """Where ``text`` really starts in ``context``: ``(start, repaired)``; ``(None, False)`` if not found.

    An exact match at ``start`` wins; otherwise the occurrence nearest to ``start`` within
    ``max_shift`` characters (ties: the earlier one). A missing/invalid ``start`` is not guessed: the
    same text may occur many times in a paragraph, and the wrong one would teach the wrong span.
    """
    if isinstance(start, bool) or not isinstance(start, int):
        return None, False
    if start >= 0 and context.startswith(text, start):
        return start, False
    lo = max(0, start - max_shift)
    hi = min(len(context), start + max_shift + len(text))
    best: int | None = None
    pos = context.find(text, lo, hi)
    while pos != -1:
        if best is None or abs(pos - start) < abs(best - start):
            best = pos
        pos = context.find(text, pos + 1, hi)
    return (best, True) if best is not None else (None, False)


def _file_error(path: Path, message: str) -> SquadFileError:
    return SquadFileError(f"{path}: {message}")


def _read_json(path: Path) -> tuple[dict, bytes]:
    """The parsed top-level object and the raw bytes (for the file's sha256)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _file_error(path, "no such file") from None
    except IsADirectoryError:
        raise _file_error(path, "is a directory, expected a SQuAD JSON file") from None
    except OSError as err:
        raise _file_error(path, f"cannot be read ({err.strerror or err})") from None
    text = raw
    if raw[:2] == b"\x1f\x8b":
        try:
            text = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise _file_error(path, f"is not a readable gzip file ({err})") from None
    if not text.strip():
        raise _file_error(path, "the file is empty")
    try:
        data = json.loads(text.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _file_error(path, "is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise _file_error(path, f"is not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise _file_error(path, 'expected a SQuAD JSON object with a "data" list of articles')
    return data, raw


class _Reader:
    """One pass over the articles. ``strict``: a broken entry raises; ``require_spans``: an answerable
    question needs a located answer span to be usable (training), otherwise gold texts suffice."""

    def __init__(self, report: SquadLoadReport, *, strict: bool, require_spans: bool, max_shift: int):
        self.report = report
        self.strict = strict
        self.require_spans = require_spans
        self.max_shift = max_shift
        self.seen_ids: set[str] = set()

    def broken(self, kind: str, where: str, message: str) -> None:
        """A paragraph or question that cannot be read as SQuAD: raise (strict) or record it."""
        problem = Problem(kind, where, message)
        if self.strict:
            raise _file_error(self.report.path, str(problem))
        self.report.problems.append(problem)

    def unusable(self, kind: str, where: str, message: str) -> None:
        """Readable, but without an answer training could use: recorded, never raised."""
        self.report.problems.append(Problem(kind, where, message))

    def articles(self, articles: list) -> list[SquadParagraph]:
        paragraphs: list[SquadParagraph] = []
        for a_index, article in enumerate(articles):
            title = article.get("title") if isinstance(article, dict) else None
            title = str(title) if title is not None else ""
            where_article = f"article '{title or f'#{a_index}'}'"
            items = article.get("paragraphs") if isinstance(article, dict) else None
            if not isinstance(items, list):
                self.broken(MISSING_FIELD, where_article, 'has no "paragraphs" list')
                continue
            self.report.articles += 1
            for p_index, item in enumerate(items):
                paragraph = self.paragraph(item, title, a_index, p_index, len(paragraphs),
                                           f"{where_article}, paragraph {p_index}")
                if paragraph is not None:
                    paragraphs.append(paragraph)
        return paragraphs

    def paragraph(self, item: object, title: str, a_index: int, p_index: int, number: int,
                  where: str) -> SquadParagraph | None:
        if not isinstance(item, dict):
            self.broken(BAD_FIELD, where, "is not a JSON object")
            return None
        context = item.get("context")
        qas = item.get("qas", [])
        if not isinstance(qas, list):
            self.broken(BAD_FIELD, where, '"qas" must be a list')
            return None
        self.report.paragraphs += 1
        self.report.questions_seen += len(qas)
        if not isinstance(context, str) or not context.strip():
            self.broken(MISSING_FIELD, where, f'has no "context" text; its {len(qas)} questions skipped')
            self.report.skipped_questions += len(qas)
            return None
        examples: list[SquadExample] = []
        for q_index, qa in enumerate(qas):
            example = self.question(qa, context, title, f"{where}, question {q_index}")
            if example is None:
                self.report.skipped_questions += 1
                continue
            self.seen_ids.add(example.qid)
            examples.append(example)
            if example.is_impossible:
                self.report.unanswerable += 1
            else:
                self.report.answerable += 1
        return SquadParagraph(title, context, a_index, p_index, number, tuple(examples))

    def question(self, qa: object, context: str, title: str, where: str) -> SquadExample | None:
        """One question, or ``None`` (with a problem recorded) when it cannot be used."""
        if not isinstance(qa, dict):
            self.broken(BAD_FIELD, where, "is not a JSON object")
            return None
        qid = qa.get("id")
        if qid is None or (isinstance(qid, str) and not qid.strip()):
            self.broken(MISSING_FIELD, where, 'has no "id"')
            return None
        qid = str(qid)
        where = f"{where} (id {qid})"
        if qid in self.seen_ids:
            self.broken(DUPLICATE_ID, where, "the same id appears earlier in the file")
            return None
        question = qa.get("question")
        if not isinstance(question, str) or not question.strip():
            self.broken(MISSING_FIELD, where, 'has no "question" text')
            return None
        impossible = qa.get("is_impossible", False)
        if not isinstance(impossible, bool):
            self.broken(BAD_FIELD, where, f'"is_impossible" must be true or false, got {impossible!r}')
            return None
        if impossible:
            return SquadExample(qid, question, context, title, (), (), marked_impossible=True)
        answers = qa.get("answers")
        if not isinstance(answers, list) or not answers:
            message = ('has no "answers" (SQuAD 2.0: set "is_impossible": true for unanswerable questions)'
                       if answers is None or answers == [] else '"answers" must be a list')
            self.unusable(MISSING_FIELD, where, message)
            return None if self.require_spans else SquadExample(qid, question, context, title, (), ())
        spans, golds = self.answers(answers, context, where)
        if not spans and self.require_spans:
            self.unusable(NO_USABLE_ANSWER, where, "no answer could be located; skipped")
            return None
        return SquadExample(qid, question, context, title, tuple(spans), tuple(golds))

    def answers(self, answers: list, context: str, where: str) -> tuple[list[AnswerSpan], list[str]]:
        spans: list[AnswerSpan] = []
        golds: list[str] = []
        for a_index, answer in enumerate(answers):
            where_ans = f"{where}, answer {a_index}"
            text = answer.get("text") if isinstance(answer, dict) else None
            if not isinstance(text, str) or not text.strip():
                self.unusable(MISSING_FIELD, where_ans, 'has no "text"')
                continue
            golds.append(text)
            start = answer.get("answer_start")
            if start is None:
                self.unusable(MISSING_FIELD, where_ans, 'has no "answer_start"')
                continue
            located, repaired = locate_answer(context, text, start, self.max_shift)
            if located is None:
                shown = text if len(text) <= 60 else text[:57] + "…"
                self.unusable(ANSWER_NOT_AT_START, where_ans, f"answer {shown!r} is not at answer_start "
                              f"{start!r} (nor within {self.max_shift} characters)")
                continue
            if repaired:
                self.report.repaired_offsets += 1
            spans.append(AnswerSpan(text, located))
        return spans, golds


def read_squad(path: str | Path, *, strict: bool = True, require_spans: bool = False,
               max_shift: int = DEFAULT_MAX_SHIFT) -> SquadFile:
    """Read a SQuAD 1.1 or 2.0 file (plain or gzip) once: its paragraphs, questions and a report.

    :param strict: raise on the first broken article, paragraph or question (evaluation); otherwise
        skip it and record the problem (training).
    :param require_spans: an answerable question is usable only when one of its answers is located in
        the context (training needs token labels); otherwise its gold texts are enough (scoring).
    :raises SquadFileError: when the file is missing, empty, not JSON or not SQuAD-shaped, or (strict) on
        the first broken entry — the message names the file and the entry.
    """
    path = Path(path)
    data, raw = _read_json(path)
    report = SquadLoadReport(path=path, sha256=hashlib.sha256(raw).hexdigest(),
                             version=str(data.get("version", "")))
    reader = _Reader(report, strict=strict, require_spans=require_spans, max_shift=max_shift)
    return SquadFile(path, reader.articles(data["data"]), report)


def load_squad(path: str | Path, *, max_shift: int = DEFAULT_MAX_SHIFT
               ) -> tuple[list[SquadExample], SquadLoadReport]:
    """The training view of a file: usable questions (each with a located answer, or unanswerable), in
    file order, and the report of what was skipped or repaired.

    :raises SquadFileError: when the file is missing, empty, not JSON, not SQuAD-shaped or has no usable
        question (the report's problems are then part of the message).
    """
    squad = read_squad(path, strict=False, require_spans=True, max_shift=max_shift)
    examples = squad.examples
    if not examples:
        report = squad.report
        detail = ("\n" + report.format()) if report.problems else ""
        raise _file_error(squad.path, f"has no usable questions{detail}")
    return examples, squad.report
