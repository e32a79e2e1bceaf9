"""Split a document's pages into overlapping, sentence-aligned passages that know where they came from.

Why our own splitter: Haystack's ``DocumentSplitter`` loses the page-relative character offsets an
answer needs to be shown on its page, and its sentence mode needs NLTK data from the network.

Sizing: a passage holds at most ``max_words`` (default 180) words, built from whole sentences, and
repeats up to ``overlap_words`` (default 40) words of trailing sentences from the previous passage so
an answer near a border is whole in at least one passage. 180 English words are about 240 BERT word
pieces (cased vocab, ~1.35 per word), which with a question of up to ~60 pieces fits the reader's
384-token window in one piece — the reader then reads each passage once, without stride overlap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from haystack import Document, component

PAGE_SEPARATOR = "\n\n"
DEFAULT_MAX_WORDS = 180
DEFAULT_OVERLAP_WORDS = 40

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "mt",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "inc",
    "ltd",
    "co",
    "corp",
    "no",
    "nos",
    "fig",
    "figs",
    "vol",
    "pp",
    "p",
    "ed",
    "eds",
    "al",
    "approx",
    "dept",
    "est",
    "gen",
    "gov",
    "rev",
    "sgt",
    "capt",
    "col",
    "lt",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "ca",
    "c",
}
# A sentence ends at ., ! or ? (plus closing quotes/brackets) followed by white space and something that
# can start a sentence; a blank line always ends one.
_BOUNDARY = re.compile(
    r"([.!?\u2026]+[\"'\u201d\u2019)\]]*)(\s+)(?=[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u00de])|\n\n+"
)
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` of the document text."""

    start: int
    end: int


def join_pages(pages: list[str]) -> tuple[str, list[int]]:
    """Concatenate page texts with a blank line between them; return the text and each page's start."""
    starts, parts, position = [], [], 0
    for page in pages:
        starts.append(position)
        parts.append(page)
        position += len(page) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(parts), starts


def _is_abbreviation(text: str, period_at: int) -> bool:
    word_start = period_at
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"'":
        word_start -= 1
    word = text[word_start:period_at].lower().rstrip(".")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def sentence_spans(text: str) -> list[Span]:
    """Sentence ranges covering ``text`` (white space between sentences is left out)."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group(1):
            if match.group(1)[0] == "." and _is_abbreviation(text, match.start(1)):
                continue
            end, next_start = match.end(1), match.end()
        else:
            end, next_start = match.start(), match.end()
        if text[start:end].strip():
            spans.append(_trim(text, start, end))
        start = next_start
    if text[start:].strip():
        spans.append(_trim(text, start, len(text)))
    return spans


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def _split_long_sentence(text: str, span: Span, max_words: int) -> list[Span]:
    """A 'sentence' longer than a passage (tables, lists without punctuation) is cut at word borders."""
    words = [m for m in _WORD.finditer(text, span.start, span.end)]
    return [
        Span(words[i].start(), words[min(i + max_words, len(words)) - 1].end())
        for i in range(0, len(words), max_words)
    ]


def passage_spans(
    text: str, max_words: int = DEFAULT_MAX_WORDS, overlap_words: int = DEFAULT_OVERLAP_WORDS
) -> list[Span]:
    """Greedy packing of whole sentences into passages of at most ``max_words`` words, with overlap."""
    if max_words < 1 or overlap_words < 0 or overlap_words >= max_words:
        raise ValueError("need max_words >= 1 and 0 <= overlap_words < max_words")
    sentences: list[tuple[Span, int]] = []
    for span in sentence_spans(text):
        n_words = len(_WORD.findall(text, span.start, span.end))
        if n_words > max_words:
            sentences.extend(
                (s, len(_WORD.findall(text, s.start, s.end)))
                for s in _split_long_sentence(text, span, max_words)
            )
        elif n_words:
            sentences.append((span, n_words))

    passages: list[Span] = []
    current: list[tuple[Span, int]] = []
    current_words = 0
    for sentence, n_words in sentences:
        if current and current_words + n_words > max_words:
            passages.append(Span(current[0][0].start, current[-1][0].end))
            # Carry trailing sentences into the next passage, as many as fit in the overlap budget
            # and leave room for the new sentence.
            carried: list[tuple[Span, int]] = []
            carried_words = 0
            for prev in reversed(current):
                if carried_words + prev[1] > overlap_words or carried_words + prev[1] + n_words > max_words:
                    break
                carried.insert(0, prev)
                carried_words += prev[1]
            current, current_words = carried, carried_words
        current.append((sentence, n_words))
        current_words += n_words
    if current:
        passages.append(Span(current[0][0].start, current[-1][0].end))
    return passages


def page_offsets(span: Span, page_starts: list[int], page_lengths: list[int]) -> list[list[int]]:
    """``[[page_number, start, end], ...]``: which part of which page (1-based) the span covers."""
    pieces = []
    for number, (page_start, length) in enumerate(zip(page_starts, page_lengths, strict=True), start=1):
        start = max(span.start, page_start)
        end = min(span.end, page_start + length)
        if start < end:
            pieces.append([number, start - page_start, end - page_start])
    return pieces


def locate_in_pages(doc_offset: int, page_starts: list[int]) -> tuple[int, int]:
    """Map an offset in the joined document text to ``(page_number, offset_in_page)``."""
    page = 0
    for index, start in enumerate(page_starts):
        if start <= doc_offset:
            page = index
    return page + 1, doc_offset - page_starts[page]


def passage_id(source_key: str, content_sha256: str, index: int) -> str:
    """Stable id: the same file content always yields the same passage ids."""
    return hashlib.sha256(f"{source_key}\0{content_sha256}\0{index}".encode()).hexdigest()[:32]


@component
class PageAwareSplitter:
    """Split one file's pages into passages whose meta records file, page(s) and page offsets."""

    def __init__(
        self, max_words: int = DEFAULT_MAX_WORDS, overlap_words: int = DEFAULT_OVERLAP_WORDS
    ) -> None:
        if max_words < 1 or overlap_words < 0 or overlap_words >= max_words:
            raise ValueError("need max_words >= 1 and 0 <= overlap_words < max_words")
        self.max_words = max_words
        self.overlap_words = overlap_words

    @component.output_types(documents=list[Document])
    def run(self, pages: list[str], meta: dict[str, Any]) -> dict[str, list[Document]]:
        """
        :param pages: cleaned text of each page, in order.
        :param meta: copied into every passage; must hold ``source_key`` and ``sha256`` for stable ids.
        """
        text, starts = join_pages(pages)
        lengths = [len(page) for page in pages]
        documents = []
        for index, span in enumerate(passage_spans(text, self.max_words, self.overlap_words)):
            offsets = page_offsets(span, starts, lengths)
            documents.append(
                Document(
                    id=passage_id(str(meta.get("source_key", "")), str(meta.get("sha256", "")), index),
                    content=text[span.start : span.end],
                    meta={
                        **meta,
                        "passage_index": index,
                        "doc_start": span.start,
                        "page": offsets[0][0] if offsets else 1,
                        "pages": [piece[0] for piece in offsets],
                        "page_offsets": offsets,
                    },
                )
            )
        return {"documents": documents}
