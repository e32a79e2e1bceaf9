"""Web pages (.html, .htm): the main text with menus, footers, sidebars and scripts left out.

Why trafilatura: it is what Haystack's ``HTMLToDocument`` uses, and it is good at telling an article from
the navigation around it. We ask it for XML rather than plain text (as the converter does) because XML
keeps headings (``<head>``) and table rows apart, so passages can cite their section and tables read as
``cell | cell`` rows. On very small pages trafilatura falls back to keeping most text, menus included:
there is too little to tell content from chrome.

Cost: one trafilatura pass reads text and metadata together (it used to parse the page twice, once for
each). A page larger than ``DOCQA_MAX_HTML_MB`` is refused before it is read: trafilatura needs ~2.5 s
and ~23 MB per MB of an ordinary page, ~6 s and ~50 MB per MB of the densest markup (measured here).
lxml's HTML parser keeps its default limits (no ``huge_tree``), and trafilatura's XML output is parsed
without DTDs or entity resolution.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from docqa.ingest.layout import assemble_blocks
from docqa.ingest.limits import LimitExceeded, Limits, megabytes
from docqa.ingest.loaded import LoadedFile, LoadError, title_from_stem

HTML_SUFFIXES = {".html", ".htm"}


def check_html_size(size: int, limits: Limits) -> None:
    """:raises LimitExceeded: an HTML file of ``size`` bytes is over ``DOCQA_MAX_HTML_MB``."""
    if size > limits.html_bytes:
        raise LimitExceeded(
            f"HTML page too large to read safely: {megabytes(size)}",
            megabytes(limits.html_bytes),
            "DOCQA_MAX_HTML_MB",
        )


def load_html(path: Path, data: bytes, limits: Limits | None = None) -> LoadedFile:
    import logging

    import trafilatura
    from lxml import etree

    check_html_size(len(data), limits or Limits.from_env())
    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # it logs every discarded element
    try:
        extracted = trafilatura.extract(
            data,
            output_format="xml",
            include_tables=True,
            include_comments=False,
            include_links=False,
            include_images=False,
            with_metadata=True,  # the title comes in the same pass (<doc title="...">)
        )
    except Exception as err:  # malformed markup surfaces as assorted lxml/parser errors
        reason = str(err).splitlines()[0][:100] if str(err) else ""
        raise LoadError(f"unreadable HTML: {type(err).__name__}: {reason}") from err
    if not extracted:
        raise LoadError("no readable text in the HTML page (only markup, scripts or navigation)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(extracted.encode("utf-8"), parser)
    except etree.XMLSyntaxError as err:
        raise LoadError(f"unreadable HTML: {str(err).splitlines()[0][:120]}") from err
    main = root.find("main")
    text, sections = assemble_blocks(_blocks(main if main is not None else root))
    if not text.strip():
        raise LoadError("no readable text in the HTML page (only markup, scripts or navigation)")
    title = (root.get("title") or "").strip()
    title = title or next((heading for _, heading in sections), "") or title_from_stem(path)
    return LoadedFile(path=path, kind="html", title=title, pages=[text], sections=sections)


def _text(element) -> str:
    return " ".join("".join(element.itertext()).split())


def _blocks(main) -> Iterator[tuple[str, bool]]:
    """``(text, is_heading)`` per heading, paragraph, list item and table row, in document order."""
    for child in main:
        if child.tag == "head":
            yield _text(child), True
        elif child.tag == "table":
            for row in child.iter("row"):
                cells = [_text(cell) for cell in row.iter("cell")]
                if any(cells):
                    yield " | ".join(cells), False
        elif child.tag == "list":
            for item in child.iter("item"):
                yield _text(item), False
        else:  # p, quote, code, div, ...
            yield _text(child), False
