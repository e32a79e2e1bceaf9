"""Read one file into page texts, or say in one line why it cannot be read.

Every failure a user can cause (corrupt, encrypted or scanned PDF, empty file, binary data posing as
text, a file that vanished) becomes a :class:`LoadError` whose message is the one-line reason shown in
the ingest report. Unsupported extensions raise :class:`UnsupportedFile`: they are skipped, not failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from docqa.errors import InvalidInputError
from ingest.cleaning import clean_text, markdown_title, strip_markdown

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES


class LoadError(InvalidInputError):
    """The file cannot be indexed; ``str(err)`` is a one-line reason for the report."""


class UnsupportedFile(InvalidInputError):
    """The file type is not one DocQA reads; it is skipped, which is not a failure."""


@dataclass
class LoadedFile:
    """A file's cleaned text, one entry per page (text files are a single page)."""

    path: Path
    kind: str  # "pdf", "text" or "markdown"
    title: str
    pages: list[str]
    notes: list[str] = field(default_factory=list)  # non-fatal remarks, e.g. how the text was decoded


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def unsupported_reason(path: Path) -> str:
    return f"unsupported file type '{path.suffix.lower() or path.name}' (DocQA reads .pdf, .txt, .md)"


def _title_from_stem(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def load_file(path: Path) -> LoadedFile:
    """Load ``path`` into cleaned page texts.

    :raises UnsupportedFile: for extensions DocQA does not read.
    :raises LoadError: with a one-line, user-facing reason for anything else that goes wrong.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFile(unsupported_reason(path))
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
        return _load_pdf(path, data)
    return _load_text(path, data, markdown=suffix in MARKDOWN_SUFFIXES)


def _load_pdf(path: Path, data: bytes) -> LoadedFile:
    import io

    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoadError("corrupt PDF: the file does not start with a PDF header")
    # pypdf logs every recoverable oddity as a warning; the report carries what matters.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict printing/copying.
            try:
                opened = reader.decrypt("")
            except Exception as err:  # pypdf raises several types for unsupported crypto
                raise LoadError(f"encrypted PDF that cannot be opened ({err})") from err
            if not opened:
                raise LoadError(
                    "encrypted PDF: it needs a password; save an unprotected copy and ingest that"
                )
        raw_pages = [page.extract_text() or "" for page in reader.pages]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except LoadError:
        raise
    except FileNotDecryptedError as err:
        raise LoadError(
            "encrypted PDF: it needs a password; save an unprotected copy and ingest that"
        ) from err
    except (PdfReadError, PyPdfError) as err:
        raise LoadError(f"corrupt PDF: {str(err).splitlines()[0][:120]}") from err
    except Exception as err:  # malformed PDFs surface as arbitrary exceptions inside pypdf
        raise LoadError(
            f"corrupt PDF: {type(err).__name__}: {str(err).splitlines()[0][:100] if str(err) else ''}"
        ) from err
    if not raw_pages:
        raise LoadError("corrupt PDF: it has no pages")
    pages = [clean_text(text) for text in raw_pages]
    if not any(page.strip() for page in pages):
        raise LoadError(
            f"PDF has no text layer ({len(pages)} page(s), likely scanned images); run OCR on it first"
        )
    title = metadata_title.strip() if isinstance(metadata_title, str) else ""
    return LoadedFile(path=path, kind="pdf", title=title or _title_from_stem(path), pages=pages)


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
        return data.decode("utf-16"), "decoded as UTF-16 (byte-order mark)"
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
        title=title or _title_from_stem(path),
        pages=[cleaned],
        notes=[note] if note else [],
    )
