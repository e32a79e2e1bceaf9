"""Read SQuAD 1.1 / 2.0 JSON for training and evaluation, with a per-question problem report.

Why not ``json.load`` and index into it: annotated files that people make themselves (the point of
``docqa train-reader``) have missing fields, answers whose ``answer_start`` is a few characters off
(text edited after annotation, CRLF vs LF, a leading space) and empty files. A traceback from deep inside
training helps nobody; a report that says "question q17 in 'Manual', paragraph 3: answer 'reset
button' is not at answer_start 120" lets a person fix the file. Offsets that are off by a few
characters are repaired (the nearest occurrence of the answer text within ``max_shift`` characters) and
counted; questions that cannot be used are skipped and counted; the rest of the file still trains.

SQuAD 1.1 has no ``is_impossible``: every question is answerable. In SQuAD 2.0, ``is_impossible: true``
questions are unanswerable (their ``plausible_answers`` are ignored) and train the null score.
"""

from __future__ import annotations

import hashlib
import json
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


class SquadDataError(InvalidInputError):
    """The file as a whole cannot be used (missing, not JSON, not SQuAD-shaped, empty, no questions).

    ``str(err)`` names the file and says what to fix.
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
    """One usable question with its paragraph.

    ``answers`` are the located spans (empty = unanswerable); ``gold_texts`` are all answer texts as given
    (what the official metric compares against, even where an offset could not be located).
    """

    qid: str
    question: str
    context: str
    title: str
    answers: tuple[AnswerSpan, ...]
    gold_texts: tuple[str, ...]

    @property
    def is_impossible(self) -> bool:
        return not self.gold_texts


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


def _file_error(path: Path, message: str) -> SquadDataError:
    return SquadDataError(f"{path}: {message}")


def load_squad(path: str | Path, *, max_shift: int = DEFAULT_MAX_SHIFT
               ) -> tuple[list[SquadExample], SquadLoadReport]:
    """Read a SQuAD 1.1 or 2.0 file: the usable questions, in file order, and the report.

    :raises SquadDataError: when the file is missing, empty, not JSON, not SQuAD-shaped or has no usable
        question (the report's problems are then part of the message).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _file_error(path, "no such file") from None
    except IsADirectoryError:
        raise _file_error(path, "is a directory, expected a SQuAD JSON file") from None
    except OSError as err:
        raise _file_error(path, f"cannot be read ({err.strerror or err})") from None
    if not raw.strip():
        raise _file_error(path, "the file is empty")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _file_error(path, "is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise _file_error(path, f"is not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise _file_error(path, 'expected a SQuAD JSON object with a "data" list of articles')
    report = SquadLoadReport(path=path, sha256=hashlib.sha256(raw).hexdigest(),
                             version=str(data.get("version", "")))
    examples = _read_articles(data["data"], report, max_shift)
    if not examples:
        detail = ("\n" + report.format()) if report.problems else ""
        raise _file_error(path, f"has no usable questions{detail}")
    return examples, report


def _read_articles(articles: list, report: SquadLoadReport, max_shift: int) -> list[SquadExample]:
    examples: list[SquadExample] = []
    seen_ids: set[str] = set()
    for a_index, article in enumerate(articles):
        title = article.get("title") if isinstance(article, dict) else None
        title = str(title) if title is not None else f"#{a_index}"
        where_article = f"article '{title}'"
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            report.problems.append(Problem(MISSING_FIELD, where_article, 'has no "paragraphs" list'))
            continue
        report.articles += 1
        for p_index, paragraph in enumerate(paragraphs):
            where_par = f"{where_article}, paragraph {p_index}"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                report.problems.append(Problem(MISSING_FIELD, where_par, 'has no "qas" list'))
                continue
            report.paragraphs += 1
            report.questions_seen += len(qas)
            if not isinstance(context, str) or not context.strip():
                report.problems.append(Problem(MISSING_FIELD, where_par,
                                               f'has no "context" text; its {len(qas)} questions skipped'))
                report.skipped_questions += len(qas)
                continue
            for q_index, qa in enumerate(qas):
                example = _read_question(qa, context, title, f"{where_par}, question {q_index}",
                                         report, seen_ids, max_shift)
                if example is None:
                    report.skipped_questions += 1
                    continue
                seen_ids.add(example.qid)
                examples.append(example)
                if example.is_impossible:
                    report.unanswerable += 1
                else:
                    report.answerable += 1
    return examples


def _read_question(qa: object, context: str, title: str, where: str, report: SquadLoadReport,
                   seen_ids: set[str], max_shift: int) -> SquadExample | None:
    """One question, or ``None`` (with a problem recorded) when it cannot be used."""
    if not isinstance(qa, dict):
        report.problems.append(Problem(BAD_FIELD, where, "is not a JSON object"))
        return None
    qid = qa.get("id")
    if qid is None or (isinstance(qid, str) and not qid.strip()):
        report.problems.append(Problem(MISSING_FIELD, where, 'has no "id"'))
        return None
    qid = str(qid)
    where = f"{where} (id {qid})"
    if qid in seen_ids:
        report.problems.append(Problem(DUPLICATE_ID, where, "the same id appears earlier in the file"))
        return None
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        report.problems.append(Problem(MISSING_FIELD, where, 'has no "question" text'))
        return None
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        report.problems.append(Problem(BAD_FIELD, where, f'"is_impossible" must be true or false, '
                                                         f"got {impossible!r}"))
        return None
    if impossible:
        return SquadExample(qid, question, context, title, (), ())
    answers = qa.get("answers")
    if not isinstance(answers, list) or not answers:
        message = ('has no "answers" (SQuAD 2.0: set "is_impossible": true for unanswerable questions)'
                   if answers is None or answers == [] else '"answers" must be a list')
        report.problems.append(Problem(MISSING_FIELD, where, message))
        return None
    spans: list[AnswerSpan] = []
    golds: list[str] = []
    for a_index, answer in enumerate(answers):
        where_ans = f"{where}, answer {a_index}"
        text = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(text, str) or not text.strip():
            report.problems.append(Problem(MISSING_FIELD, where_ans, 'has no "text"'))
            continue
        golds.append(text)
        start = answer.get("answer_start")
        if start is None:
            report.problems.append(Problem(MISSING_FIELD, where_ans, 'has no "answer_start"'))
            continue
        located, repaired = locate_answer(context, text, start, max_shift)
        if located is None:
            shown = text if len(text) <= 60 else text[:57] + "…"
            report.problems.append(Problem(
                ANSWER_NOT_AT_START, where_ans,
                f"answer {shown!r} is not at answer_start {start!r} (nor within {max_shift} characters)"))
            continue
        if repaired:
            report.repaired_offsets += 1
        spans.append(AnswerSpan(text, located))
    if not spans:
        report.problems.append(Problem(NO_USABLE_ANSWER, where, "no answer could be located; skipped"))
        return None
    return SquadExample(qid, question, context, title, tuple(spans), tuple(golds))
