"""Turn extracted text into clean reading text.

The cleaned text is what DocQA stores, embeds and shows; every character offset a passage or an answer
carries refers to it. So cleaning happens once, before chunking, and never afterwards.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

# "exam-\nple" → "example": a hyphen at a line end followed by a lower-case continuation is a
# typesetting hyphen, not part of the word. "well-\nKnown" or "1990-\n2000" keep their hyphen.
_LINEBREAK_HYPHEN = re.compile(r"(?<!\w)(\w+)-[ \t]*\n[ \t]*([a-zß-ÿ]\w*)")
# "well-\nKnown" keeps its hyphen (a real compound) but loses the line break.
_LINEBREAK_AFTER_HYPHEN = re.compile(r"(\w-)[ \t]*\n[ \t]*(?=\w)")
_SOFT_HYPHEN = "\u00ad"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")
_MANY_NEWLINES = re.compile(r"\n{3,}")


_HEADING_END = re.compile(r"[.,;:!?\-–—]$")


def _mark_headings(text: str) -> str:
    """Give heading-like lines their own paragraph before wrapped lines are joined.

    PDF text has no blank line after a title ("Packet switching\nStarting in the late 1950s..."), so
    joining wrapped lines would glue the title onto the first sentence. A line counts as a heading when it
    is short compared with the page's typical line (so narrow columns are not mistaken for headings),
    has no closing punctuation, and the next line starts like a sentence.
    """
    lines = text.split("\n")
    lengths = sorted(len(line) for line in lines if line)
    if len(lengths) < 5:
        return text
    typical = lengths[len(lengths) // 2]
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            line
            and following[:1].isupper()
            and len(line) <= min(80, 0.6 * typical)
            and len(line.split()) <= 10
            and not _HEADING_END.search(line)
        ):
            out.append("")
    return "\n".join(out)


def _dehyphenate(match: re.Match[str], hyphenated: frozenset[str]) -> str:
    left, right = match.group(1), match.group(2)
    return f"{left}-{right}" if f"{left}-{right}".lower() in hyphenated else left + right


def clean_text(text: str, hyphenated: frozenset[str] = frozenset()) -> str:
    """Normalise unicode and white space, undo line-break hyphenation, join wrapped lines.

    Paragraph breaks (blank lines) survive as ``"\\n\\n"``; single line breaks inside a paragraph become
    spaces, because PDF and hard-wrapped text break lines for layout, not meaning.

    :param hyphenated: words (lower case) the document spells with a hyphen; a line-end hyphen inside
        one of them is kept ("e-\\nmail" → "e-mail"), every other one is a typesetting hyphen and goes
        (see :func:`docqa.ingest.pdflayout.hyphenated_words`).
    """
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = text.replace(_SOFT_HYPHEN, "")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _LINEBREAK_HYPHEN.sub(lambda m: _dehyphenate(m, hyphenated), text)
    text = _LINEBREAK_AFTER_HYPHEN.sub(r"\1", text)
    text = _mark_headings(text)
    text = _SINGLE_NEWLINE.sub(" ", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    text = _SPACES.sub(" ", text)
    return text.strip()


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)


def markdown_title(text: str) -> str | None:
    """The first heading of a Markdown document, used as its title."""
    match = _MD_HEADING.search(text)
    return match.group(1).strip() if match else None


def strip_markdown(text: str) -> str:
    """Drop Markdown syntax that would otherwise show up inside passages and answers.

    Headings become their own paragraphs so a passage never runs a heading into the next sentence.
    """
    text = _MD_FENCE.sub("", text)
    text = _MD_HEADING.sub(lambda m: f"\n\n{m.group(1)}\n\n", text)
    text = _strip_bracketed(text, "![", 0)  # _MD_IMAGE.sub(r"\1", text), in linear time
    text = _strip_bracketed(text, "[", 1)  # _MD_LINK.sub(r"\1", text)
    return _strip_emphasis(text)  # _MD_EMPHASIS.sub(r"\2", text)


# The three substitutions above are what the patterns _MD_IMAGE, _MD_LINK and _MD_EMPHASIS describe
# (tests/ingest/test_cleaning_linear.py checks they give the same text on random input). Run by ``re``,
# each tried every opener against the rest of the text: a 150 KB file of "![a" took 23 s, 200 KB of
# "**a " 95 s, growing with the square of the size; scanned once, they take milliseconds.


def _strip_bracketed(text: str, opener: str, min_text: int) -> str:
    """``opener[TEXT](URL)`` → ``TEXT`` (TEXT without ``]``, at least ``min_text`` characters; URL
    without ``)``), leftmost first, as ``re.sub`` does — in one pass: the next ``]`` and ``)`` are found
    once and reused by every opener before them."""
    out, pos, close, paren = [], 0, -1, -1
    i = text.find(opener)
    while i != -1:
        start = i + len(opener)
        if close < start:
            close = text.find("]", start)
        if close == -1:
            break  # no "]" after this opener, so none after a later one
        if close - start >= min_text and text.startswith("(", close + 1):
            if paren < close + 2:
                paren = text.find(")", close + 2)
            if paren == -1:
                break  # no ")" after this text, so none after a later one
            out += [text[pos:i], text[start:close]]
            pos = paren + 1
            i = text.find(opener, pos)
            continue
        i = text.find(opener, i + 1)
    out.append(text[pos:])
    return "".join(out)


_EMPHASIS_OPENER = re.compile(r"(?=(\*\*|__)\S)")


def _strip_emphasis(text: str) -> str:
    """``**TEXT**`` / ``__TEXT__`` → ``TEXT`` within one line (TEXT starts and ends with a non-space), the
    shortest from the leftmost opener, as ``_MD_EMPHASIS.sub`` does — with each delimiter's closers
    listed once and the next one looked up by bisection."""
    closers = {d: [m.start() for m in re.finditer(rf"(?<=\S)(?={re.escape(d)})", text)] for d in ("**", "__")}
    out, pos, dead = [], 0, {"**": -1, "__": -1}  # dead: end of a line where the delimiter has no closer
    for match in _EMPHASIS_OPENER.finditer(text):
        i, delim = match.start(), match.group(1)
        if i < pos or i < dead[delim]:
            continue
        line_end = text.find("\n", i)
        line_end = len(text) if line_end == -1 else line_end
        found = closers[delim]
        k = bisect.bisect_left(found, i + 3)
        if k == len(found) or found[k] >= line_end:
            dead[delim] = line_end
            continue
        out += [text[pos:i], text[i + 2:found[k]]]
        pos = found[k] + 2
    out.append(text[pos:])
    return "".join(out)
