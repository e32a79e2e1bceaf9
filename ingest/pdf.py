"""Read a PDF's pages: the text layer where there is one, OCR where a page is only a scanned image.

Text comes from pypdf (as before OCR existed, so text PDFs load exactly as they did). A page with almost
no text (under :data:`MIN_TEXT_CHARS` letters/digits) that holds an image is rendered with pypdfium2 at
:data:`OCR_DPI` and read by Tesseract (:mod:`docqa.ingest.ocr`); so mixed PDFs, with some pages scanned, work.
Pages without text *and* without images (blank pages, vector drawings) are not sent to OCR: there is
nothing for it to read, and each page costs seconds.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from docqa.ingest.cleaning import clean_text
from docqa.ingest.loaded import LoadedFile, LoadError, page_ranges, title_from_stem
from docqa.ingest.ocr import DEFAULT_LANGUAGES
from docqa.ingest.scans import apply_ocr

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_TEXT_CHARS = 20  # fewer letters/digits than this on a page: treat it as having no text layer
# Tesseract is most accurate with capital letters ~30 px high; 300 dpi is its documented sweet spot, but a
# page scanned at 200 dpi has no more detail to give, and 300 dpi costs about twice the time.
OCR_DPI = 250


def load_pdf(
    path: Path,
    data: bytes,
    *,
    ocr: bool = True,
    languages: str = DEFAULT_LANGUAGES,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedFile:
    raw_pages, metadata_title = _text_layer(data)
    pages = [clean_text(text) for text in raw_pages]
    title = metadata_title.strip() if isinstance(metadata_title, str) else ""
    loaded = LoadedFile(path=path, kind="pdf", title=title or title_from_stem(path), pages=pages)
    textless = [i + 1 for i, page in enumerate(pages) if sum(ch.isalnum() for ch in page) < MIN_TEXT_CHARS]
    scanned = _pages_with_images(data, textless) if textless else []
    if scanned and ocr:
        apply_ocr(loaded, _render(data, scanned), len(scanned), languages=languages, progress=progress)
    elif scanned:
        if len(scanned) == len(pages) or not any(p.strip() for p in pages):
            raise LoadError(
                f"PDF has no text layer ({len(pages)} page(s), likely scanned images) and OCR is turned off"
            )
        loaded.notes.append(f"pages {page_ranges(scanned)} have no text layer; not read (OCR is off)")
    if not any(page.strip() for page in loaded.pages):
        if scanned and ocr:
            raise LoadError(f"no text found, even with OCR ({len(pages)} page(s))")
        raise LoadError(
            f"PDF has no text layer ({len(pages)} page(s)) and no scanned images to read; nothing to index"
        )
    return loaded


def _text_layer(data: bytes) -> tuple[list[str], str]:
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
    return raw_pages, metadata_title


def _open_pdfium(data: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data, password="")
    except pdfium.PdfiumError as err:
        raise LoadError(f"corrupt PDF: PDFium cannot open it for OCR ({err})") from err


def _pages_with_images(data: bytes, numbers: list[int]) -> list[int]:
    """Which of these (1-based) pages draw at least one image, directly or inside a form."""
    import pypdfium2.raw as pdfium_c

    document = _open_pdfium(data)
    try:
        found = []
        for number in numbers:
            page = document[number - 1]
            if next(iter(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])), None) is not None:
                found.append(number)
            page.close()
        return found
    finally:
        document.close()


def _render(data: bytes, numbers: list[int]) -> Iterator[tuple[int, Image, int]]:
    """Render pages one at a time (PDFium is not thread-safe; OCR of earlier pages runs meanwhile)."""
    document = _open_pdfium(data)
    try:
        for number in numbers:
            page = document[number - 1]
            image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil()
            page.close()
            yield number, image, OCR_DPI
    finally:
        document.close()
