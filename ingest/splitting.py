"""Split a document's pages into overlapping, sentence-aligned passages that know where they came from.

Why our own splitter: Haystack's ``DocumentSplitter`` loses the page-relative character offsets an
answer needs to be shown on its page, and its sentence mode needs NLTK data from the network.

Sizing: a passage holds at most ``max_words`` (default 180) words, built from whole sentences, and
repeats up to ``overlap_words`` (default 40) words of trailing sentences from the previous passage so
an answer near a border is whole in at least one passage. 180 English words are about 240 BERT word
pieces (cased vocab, ~1.35 per word), which with a question of up to ~60 pieces fits the reader's
384-token window in one piece — the reader then reads each passage once, without stride overlap.

A passage is also never longer than ``max_chars`` (default 1,500) characters. Why: words are counted
between white space, so text without spaces — Chinese or Japanese, a base64 blob, a long URL, or a
hostile 128 KiB "word" — was one word and one passage of any length, and the reader's work and the
answer's size grew with it (issue 27: a 128 KiB one-word file made ``/ask`` return 93 MB). 1,500 is
above every passage of normal text measured: on the three samples and the 958 SQuAD 2.0 paragraphs of
``../shared/data`` (1,183 passages) the longest passage is 1,236 characters (p99 1,175) and the longest
sentence 1,207, so their passages are exactly those of the word-only splitter; and 1,500 characters of
English are ~300 word pieces (4.9 characters a piece on those passages), about one reader window.
The overlap is capped the same way (``max_chars * overlap_words / max_words``, 333 characters by default).

Words are counted as BERT's tokenizer splits them: every CJK ideograph is a word of its own (so a
passage of Chinese is ~180 ideographs, one reader window, not 1,500 characters, five windows).
A sentence over either limit is packed word by word instead of whole (with the same overlap), and a
word longer than ``MAX_WORD_CHARS`` (100, the length past which BERT's tokenizer gives up on a word too)
is first cut into pieces of at most that many characters, after a punctuation mark where the piece has
one. Offsets stay exact: every passage is one ``[start, end)`` range of the page text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from haystack import Document, component

PAGE_SEPARATOR = "\n\n"
DEFAULT_MAX_WORDS = 180
DEFAULT_OVERLAP_WORDS = 40
DEFAULT_MAX_CHARS = 1500
MAX_WORD_CHARS = 100

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
# A word is what BERT's basic tokenizer makes one: a run of non-space characters, except that every CJK
# ideograph is a word of its own (its ranges: ``_is_chinese_char`` in transformers). Chinese and Japanese
# text has no spaces; counted as one word, 1,500 characters of it were a passage of ~1,500 word pieces,
# five reader windows where English needs one. Counted per ideograph, a passage is ~180 of them.
_IDEOGRAPH = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002a6df\U0002a700-\U0002ceaf\U0002f800-\U0002fa1f"
)
_WORD = re.compile(f"[{_IDEOGRAPH}]|[^\\s{_IDEOGRAPH}]+")


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


def _word_pieces(text: str, start: int, end: int, limit: int) -> list[Span]:
    """``text[start:end]`` (one word) as pieces of at most ``limit`` characters, each ending after the
    last punctuation mark in its second half when there is one (a URL breaks at ``/``, a CSV line at
    ``,``), else at the limit, never before a combining mark."""
    pieces = []
    while end - start > limit:
        cut = start + limit
        for at in range(cut - 1, start + limit // 2, -1):
            if not text[at].isalnum():
                cut = at + 1
                break
        else:
            while cut > start + 1 and unicodedata.combining(text[cut]):
                cut -= 1
        pieces.append(Span(start, cut))
        start = cut
    pieces.append(Span(start, end))
    return pieces


def _packing_units(text: str, max_words: int, max_chars: int) -> list[tuple[Span, int]]:
    """What the packer places whole: ``(span, words)`` per sentence, or per word (piece) of a sentence
    over ``max_words`` words or ``max_chars`` characters. Every unit fits in a passage."""
    units: list[tuple[Span, int]] = []
    piece_limit = min(MAX_WORD_CHARS, max_chars)
    for span in sentence_spans(text):
        words = list(_WORD.finditer(text, span.start, span.end))
        if len(words) <= max_words and span.end - span.start <= max_chars:
            if words:
                units.append((span, len(words)))
            continue
        for word in words:
            if word.end() - word.start() <= piece_limit:
                units.append((Span(word.start(), word.end()), 1))
            else:
                pieces = _word_pieces(text, word.start(), word.end(), piece_limit)
                units.extend((piece, 1) for piece in pieces)
    return units


def passage_spans(
    text: str,
    max_words: int = DEFAULT_MAX_WORDS,
    overlap_words: int = DEFAULT_OVERLAP_WORDS,
    max_chars: int = DEFAULT_MAX_CHARS,
    breaks: Sequence[int] = (),
) -> list[Span]:
    """Greedy packing of whole sentences into passages of at most ``max_words`` words and ``max_chars``
    characters, with overlap (see the module docstring).

    :param breaks: offsets in ``text`` where a passage must end, with no overlap carried past them: the
        rows of a table (each row its own passage, see :mod:`docqa.ingest.tables`) and the table's end.
    """
    _check_sizes(max_words, overlap_words, max_chars)
    overlap_chars = max_chars * overlap_words // max_words
    passages: list[Span] = []
    current: list[tuple[Span, int]] = []
    current_words = 0
    pending = sorted(set(breaks), reverse=True)  # popped from the end, smallest first
    for sentence, n_words in _packing_units(text, max_words, max_chars):
        crossed = False
        while pending and pending[-1] <= sentence.start:
            crossed = crossed or bool(current) and pending[-1] >= current[-1][0].end
            pending.pop()
        if crossed:
            passages.append(Span(current[0][0].start, current[-1][0].end))
            current, current_words = [], 0
        if current and (
            current_words + n_words > max_words or sentence.end - current[0][0].start > max_chars
        ):
            passages.append(Span(current[0][0].start, current[-1][0].end))
            # Carry trailing sentences into the next passage, as many as fit in the overlap budget
            # and leave room for the new sentence.
            carried: list[tuple[Span, int]] = []
            carried_words = 0
            for prev in reversed(current):
                words = carried_words + prev[1]
                if (
                    words > overlap_words
                    or words + n_words > max_words
                    or current[-1][0].end - prev[0].start > overlap_chars
                    or sentence.end - prev[0].start > max_chars
                ):
                    break
                carried.insert(0, prev)
                carried_words = words
            current, current_words = carried, carried_words
        current.append((sentence, n_words))
        current_words += n_words
    if current:
        passages.append(Span(current[0][0].start, current[-1][0].end))
    return passages


def _check_sizes(max_words: int, overlap_words: int, max_chars: int) -> None:
    if max_words < 1 or overlap_words < 0 or overlap_words >= max_words:
        raise ValueError("need max_words >= 1 and 0 <= overlap_words < max_words")
    if max_chars < 1:
        raise ValueError("need max_chars >= 1")


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
        self,
        max_words: int = DEFAULT_MAX_WORDS,
        overlap_words: int = DEFAULT_OVERLAP_WORDS,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        _check_sizes(max_words, overlap_words, max_chars)
        self.max_words = max_words
        self.overlap_words = overlap_words
        self.max_chars = max_chars

    @component.output_types(documents=list[Document])
    def run(
        self, pages: list[str], meta: dict[str, Any], breaks: list[list[int]] | None = None
    ) -> dict[str, list[Document]]:
        """
        :param pages: cleaned text of each page, in order.
        :param meta: copied into every passage; must hold ``source_key`` and ``sha256`` for stable ids.
        :param breaks: ``[page, offset]`` pairs (1-based page, offset in its text) where a passage must end:
            table rows (``LoadedFile.breaks``).
        """
        text, starts = join_pages(pages)
        lengths = [len(page) for page in pages]
        at = [starts[page - 1] + offset for page, offset in breaks or [] if 1 <= page <= len(starts)]
        documents = []
        spans = passage_spans(text, self.max_words, self.overlap_words, self.max_chars, at)
        for index, span in enumerate(spans):
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
