"""Turn extracted text into clean reading text.

The cleaned text is what DocQA stores, embeds and shows; every character offset a passage or an answer
carries refers to it. So cleaning happens once, before chunking, and never afterwards.
"""

from __future__ import annotations

import re
import unicodedata

# "exam-\nple" → "example": a hyphen at a line end followed by a lower-case continuation is a
# typesetting hyphen, not part of the word. "well-\nKnown" or "1990-\n2000" keep their hyphen.
_LINEBREAK_HYPHEN = re.compile(r"(\w+)-[ \t]*\n[ \t]*([a-zß-ÿ]\w*)")
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
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    return _MD_EMPHASIS.sub(r"\2", text)
