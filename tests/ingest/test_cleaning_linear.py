"""Markdown stripping and line-break dehyphenation give the text their regular expressions describe, in
time that grows with the text, not its square: hostile Markdown (openers with no closer, an endless word)
used to take minutes for a few hundred kilobytes."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from docqa.ingest import cleaning

MARKDOWN = st.text(alphabet="*_![]()a b\n", max_size=60)


@settings(max_examples=600, deadline=None)
@given(MARKDOWN)
def test_the_one_pass_markdown_scanners_strip_exactly_what_the_patterns_match(text: str) -> None:
    assert cleaning._strip_bracketed(text, "![", 0) == cleaning._MD_IMAGE.sub(r"\1", text)
    assert cleaning._strip_bracketed(text, "[", 1) == cleaning._MD_LINK.sub(r"\1", text)
    assert cleaning._strip_emphasis(text) == cleaning._MD_EMPHASIS.sub(r"\2", text)


def test_hostile_markdown_and_endless_words_are_cleaned_in_bounded_time() -> None:
    """3 MB each; the quadratic versions needed hours for these (they took 23 s at 150 KB)."""
    code = ("from docqa.ingest.cleaning import clean_text, strip_markdown\n"
            "n = 3_000_000\n"
            "for text in ('![a' * (n // 3), '[a](' * (n // 4), '**a ' * (n // 4), 'x' * n):\n"
            "    clean_text(strip_markdown(text))\n"
            "print('done')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "done", done.stderr[-2000:]
