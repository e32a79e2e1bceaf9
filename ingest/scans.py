"""Turn OCR results into a file's pages and report notes, the same way for scanned PDFs and image files.

Why a page that OCRs to nothing stays in ``pages`` as an empty string: page numbers must keep matching
the file (page 4 of the scan is page 4 in answers); an empty page yields no passages, and the report
names it so the user knows it was not silently indexed as blank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from docqa.ingest.limits import LimitExceeded
from docqa.ingest.loaded import LoadedFile, LoadError, page_ranges
from docqa.ingest.ocr import (
    DEFAULT_LANGUAGES,
    PAGE_TIMEOUT_S,
    OcrFailed,
    OcrPageTimeout,
    OcrUnavailable,
    read_pages,
)

if TYPE_CHECKING:
    from PIL.Image import Image


def apply_ocr(
    loaded: LoadedFile,
    numbered_images: Iterable[tuple[int, Image, int]],
    total: int,
    *,
    languages: str = DEFAULT_LANGUAGES,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout: float = PAGE_TIMEOUT_S,
) -> None:
    """OCR ``total`` ``(page_number, image, dpi)`` items into ``loaded`` (its pages, word boxes, notes).

    ``numbered_images`` may raise :class:`LoadError` while it is consumed (a frame that cannot be
    decoded, a page over a limit); it is passed through. Each page may take ``timeout`` seconds.

    :raises LoadError: when Tesseract is missing (with the how-to) or fails on a page;
        :class:`LimitExceeded` naming ``DOCQA_MAX_OCR_SECONDS`` when a page takes too long.
    """
    numbers: list[int] = []

    def images() -> Iterable[tuple[Image, int]]:
        # Streamed: pages are rendered as OCR workers free up, never all held at once.
        for number, image, dpi in numbered_images:
            numbers.append(number)
            yield image, dpi

    try:
        on_page = (lambda done: progress(done, total)) if progress else None
        pages = list(
            read_pages(images(), languages=languages, workers=workers, progress=on_page, timeout=timeout)
        )
    except OcrPageTimeout as err:
        seconds = f"{err.seconds:g} s"
        raise LimitExceeded(
            f"OCR took longer than {seconds} on one page", seconds, "DOCQA_MAX_OCR_SECONDS"
        ) from err
    except OcrUnavailable as err:
        what = "image files" if loaded.kind == "image" else "pages without a text layer"
        raise LoadError(f"{what} need OCR, but {err}") from err
    except OcrFailed as err:
        raise LoadError(f"OCR failed: {err}") from err
    read, empty, confidences = [], [], []
    for number, page in zip(numbers, pages, strict=True):
        if page.empty:
            empty.append(number)
            loaded.pages[number - 1] = ""
            continue
        read.append(number)
        loaded.pages[number - 1] = page.text
        loaded.word_boxes[number] = page.boxes
        if page.confidence is not None:
            confidences.append(page.confidence)
    loaded.ocr_pages = read
    if read:
        mean = sum(confidences) / len(confidences) if confidences else 0.0
        label = "page" if len(read) == 1 else "pages"
        loaded.notes.append(f"OCR read {label} {page_ranges(read)} (mean confidence {mean:.0f}%)")
    if empty:
        label = "page" if len(empty) == 1 else "pages"
        loaded.notes.append(f"OCR found no text on {label} {page_ranges(empty)}; not indexed")
