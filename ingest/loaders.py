"""Read one file into page texts, or say in one line why it cannot be read; pick the reader by type.

Every failure a user can cause (corrupt, encrypted or textless PDF, empty file, binary data posing as
text, a file that vanished, Tesseract missing for a scan) becomes a :class:`LoadError` whose message is the
one-line reason shown in the ingest report. Unsupported extensions raise :class:`UnsupportedFile`: they
are skipped, not failed. :data:`SUPPORTED_SUFFIXES` is the one list of what DocQA reads; the upload
widgets, ``POST /documents`` and the skip messages all derive from it.

Per format: PDFs in :mod:`docqa.ingest.pdf` (text layer, OCR for scanned pages), images in
:mod:`docqa.ingest.images` (OCR), Word in :mod:`docqa.ingest.office`, HTML in :mod:`docqa.ingest.webpage`,
plain text and Markdown here. What one file may cost is bounded by :class:`~docqa.ingest.limits.Limits`
(``DOCQA_MAX_*``); a file over a limit fails with a reason naming the limit and its variable.

Any other exception a parser raises on a hostile or broken file (an lxml or zip error, RecursionError,
MemoryError, a decoding error) also becomes a :class:`LoadError` — "cannot read this Word file
(XMLSyntaxError: ...)" — with the traceback logged at debug level, so a bad file is its own ``failed``
line (a 400 from the service), never a crashed batch or a 500.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from docqa.ingest.cleaning import clean_text, markdown_title, strip_markdown
from docqa.ingest.images import IMAGE_SUFFIXES
from docqa.ingest.limits import Limits
from docqa.ingest.loaded import LoadedFile, LoadError, UnsupportedFile, title_from_stem
from docqa.ingest.ocr import DEFAULT_LANGUAGES
from docqa.ingest.office import DOCX_SUFFIXES
from docqa.ingest.webpage import HTML_SUFFIXES

__all__ = [
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "LoadedFile",
    "UnsupportedFile",
    "decode_text",
    "is_supported",
    "load_file",
    "supported_list",
    "unsupported_reason",
]

log = logging.getLogger(__name__)

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
SUPPORTED_SUFFIXES = (
    PDF_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | DOCX_SUFFIXES | HTML_SUFFIXES | IMAGE_SUFFIXES
)
_KINDS = {
    **dict.fromkeys(PDF_SUFFIXES, "PDF"),
    **dict.fromkeys(TEXT_SUFFIXES, "text file"),
    **dict.fromkeys(MARKDOWN_SUFFIXES, "Markdown file"),
    **dict.fromkeys(DOCX_SUFFIXES, "Word file"),
    **dict.fromkeys(HTML_SUFFIXES, "HTML page"),
    **dict.fromkeys(IMAGE_SUFFIXES, "image"),
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def supported_list() -> str:
    """The supported suffixes as users see them when a file type is refused (".docx, .htm, ...")."""
    return ", ".join(sorted(SUPPORTED_SUFFIXES))


def unsupported_reason(path: Path) -> str:
    return f"unsupported file type '{path.suffix.lower() or path.name}' (DocQA reads {supported_list()})"


def load_file(
    path: Path,
    *,
    ocr: bool = True,
    ocr_languages: str = DEFAULT_LANGUAGES,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits | None = None,
) -> LoadedFile:
    """Load ``path`` into cleaned page texts.

    :param ocr: read scanned pages and image files with Tesseract; off, scanned pages are left out
        (noted in the report) and image files fail.
    :param ocr_languages: Tesseract language codes joined by "+", e.g. ``"eng+deu"``.
    :param progress: called with (pages done, pages to do) while scanned pages are OCRed.
    :param limits: what the file may cost; by default :meth:`Limits.from_env`.
    :raises UnsupportedFile: for extensions DocQA does not read.
    :raises LoadError: with a one-line, user-facing reason for anything else that goes wrong
        (:class:`~docqa.ingest.limits.LimitExceeded` when the file is over a limit).
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFile(unsupported_reason(path))
    limits = limits or Limits.from_env()
    try:
        return _load(path, suffix, ocr=ocr, ocr_languages=ocr_languages, progress=progress, limits=limits)
    except LoadError:
        raise
    except Exception as err:  # a parser's own failure on a broken or hostile file; KeyboardInterrupt passes
        log.debug("reading %s failed", path, exc_info=True)
        raise LoadError(unexpected_reason(path, err)) from err


def unexpected_reason(path: Path, err: BaseException) -> str:
    """The one-line report reason for an exception no loader anticipated (error class and first line)."""
    kind = _KINDS.get(path.suffix.lower(), "file")
    if isinstance(err, RecursionError):
        return f"cannot read this {kind}: it is nested too deeply (RecursionError)"
    if isinstance(err, MemoryError):
        return f"cannot read this {kind}: it needs more memory than is free (MemoryError)"
    first = str(err).splitlines()[0][:120] if str(err).strip() else ""
    return f"cannot read this {kind} ({type(err).__name__}{': ' + first if first else ''})"


def _load(
    path: Path,
    suffix: str,
    *,
    ocr: bool,
    ocr_languages: str,
    progress: Callable[[int, int], None] | None,
    limits: Limits,
) -> LoadedFile:
    if suffix in HTML_SUFFIXES:
        from docqa.ingest.webpage import check_html_size

        with contextlib.suppress(OSError):  # a file that cannot be read is reported by the read below
            check_html_size(path.stat().st_size, limits)  # before the page is read into memory
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise LoadError("file disappeared before it could be read") from err
    except IsADirectoryError as err:
        raise LoadError("is a directory, not a file") from err
    except PermissionError as err:
        raise LoadError("permission denied") from err
    except OSError as err:
        raise LoadError(f"cannot read file: {err.strerror or err}") from err
    if not data:
        raise LoadError("empty file (0 bytes)")
    if suffix in PDF_SUFFIXES:
        from docqa.ingest.pdf import load_pdf

        return load_pdf(path, data, ocr=ocr, languages=ocr_languages, progress=progress, limits=limits)
    if suffix in IMAGE_SUFFIXES:
        from docqa.ingest.images import load_image

        return load_image(path, data, ocr=ocr, languages=ocr_languages, progress=progress, limits=limits)
    if suffix in DOCX_SUFFIXES:
        from docqa.ingest.office import load_docx

        return load_docx(path, data, limits)
    if suffix in HTML_SUFFIXES:
        from docqa.ingest.webpage import load_html

        return load_html(path, data, limits)
    return _load_text(path, data, markdown=suffix in MARKDOWN_SUFFIXES)


def _looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters mean this is not a text file, whatever its name says."""
    sample = data[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with BOM legitimately contains NUL bytes
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control > max(8, len(sample) // 100)


def decode_text(data: bytes) -> tuple[str, str | None]:
    """Decode bytes as text; return (text, note) where note says how, when it was not plain UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # errors="replace": an odd byte count or a lone surrogate must not stop the whole file
        return data.decode("utf-16", errors="replace"), "decoded as UTF-16 (byte-order mark)"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "not valid UTF-8; decoded as Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "not valid UTF-8; decoded as Latin-1"


def _load_text(path: Path, data: bytes, *, markdown: bool) -> LoadedFile:
    if _looks_binary(data):
        raise LoadError("binary data, not text (is the extension wrong?)")
    text, note = decode_text(data)
    title = markdown_title(text) if markdown else None
    if markdown:
        text = strip_markdown(text)
    cleaned = clean_text(text)
    if not cleaned.strip():
        raise LoadError("no text: the file holds only white space")
    return LoadedFile(
        path=path,
        kind="markdown" if markdown else "text",
        title=title or title_from_stem(path),
        pages=[cleaned],
        notes=[note] if note else [],
    )
