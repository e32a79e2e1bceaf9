"""Image files (.png, .jpg, .jpeg, .tif, .tiff): a photo or scan of a page, read by OCR.

Each image is one page; a multi-page TIFF (the usual fax/scanner output) gives one page per frame.
The resolution stored in the file tells Tesseract how large the letters are; files without one are
assumed to be 300 dpi scans, the common scanner default.

Frames are decoded one at a time, as OCR asks for them, never all at once: the probe's 70 KB TIFF of 24
blank 6000x6000 frames cost +1 GB when every frame was decoded first. Before a frame is decoded its size
(from the header) is checked against ``DOCQA_MAX_PAGE_MPX``, and the frame count against
``DOCQA_MAX_PAGES`` and ``DOCQA_MAX_OCR_PAGES`` (:mod:`docqa.ingest.limits`). An image file over the pixel
limit is refused rather than scaled down: scaling needs the full decode, which is the cost being avoided.
Pillow's own decompression-bomb guard stays in place behind these.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from docqa.ingest.limits import LimitExceeded, Limits, plain
from docqa.ingest.loaded import LoadedFile, LoadError, title_from_stem
from docqa.ingest.ocr import DEFAULT_LANGUAGES
from docqa.ingest.scans import apply_ocr

if TYPE_CHECKING:
    from PIL.Image import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
ASSUMED_DPI = 300


def load_image(
    path: Path,
    data: bytes,
    *,
    ocr: bool = True,
    languages: str = DEFAULT_LANGUAGES,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits | None = None,
) -> LoadedFile:
    if not ocr:
        raise LoadError("image files are read by OCR, which is turned off")
    limits = limits or Limits.from_env()
    image = _open(data)
    with image:
        count = _frame_count(image, limits)
        loaded = LoadedFile(path=path, kind="image", title=title_from_stem(path), pages=[""] * count)
        numbered = ((i + 1, frame, dpi) for i, (frame, dpi) in enumerate(_frames(image, count, limits)))
        apply_ocr(loaded, numbered, count, languages=languages, progress=progress, timeout=limits.ocr_seconds)
    if not any(page.strip() for page in loaded.pages):
        raise LoadError("no text found by OCR in the image")
    return loaded


def _open(data: bytes) -> Image:
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError as err:
        raise LoadError("not a readable image (corrupt, or the extension is wrong)") from err
    except Image.DecompressionBombError as err:
        raise LoadError("image too large to read safely (over Pillow's decompression-bomb limit)") from err
    except (OSError, SyntaxError, ValueError) as err:  # truncated or malformed image data
        raise LoadError(f"corrupt image: {_reason(err)}") from err


def _reason(err: Exception) -> str:
    return str(err).splitlines()[0][:100] if str(err) else type(err).__name__


def _frame_count(image: Image, limits: Limits) -> int:
    """How many frames (pages) the file holds, read from its headers; refused over the page limits."""
    try:
        count = max(1, int(getattr(image, "n_frames", 1)))
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise LoadError(f"corrupt image: {_reason(err)}") from err
    if count > limits.pages:
        raise LimitExceeded(f"too many pages: {count} frames", f"{limits.pages} pages", "DOCQA_MAX_PAGES")
    if count > limits.ocr_pages:
        raise LimitExceeded(
            f"too many pages to OCR: {count} frames", f"{limits.ocr_pages} pages", "DOCQA_MAX_OCR_PAGES"
        )
    return count


def _frames(image: Image, count: int, limits: Limits) -> Iterator[tuple[Image, int]]:
    """Each frame as a grayscale image with its DPI, decoded only when asked for."""
    from PIL import Image as PILImage

    for index in range(count):
        try:
            image.seek(index)
            width, height = image.size
            if width * height > limits.page_pixels:
                where = f"frame {index + 1}: " if count > 1 else ""
                raise LimitExceeded(
                    f"image too large to OCR: {where}{width} x {height} pixels "
                    f"({width * height / 1e6:.0f} megapixels)",
                    f"{plain(limits.page_mpx)} megapixels",
                    "DOCQA_MAX_PAGE_MPX",
                )
            frame = image.convert("L")  # decodes this frame only
            dpi = _dpi(image)
        except LoadError:
            raise
        except PILImage.DecompressionBombError as err:
            raise LoadError(
                "image too large to read safely (over Pillow's decompression-bomb limit)"
            ) from err
        except (OSError, SyntaxError, ValueError, EOFError) as err:  # truncated or malformed frame data
            raise LoadError(f"corrupt image: {_reason(err)}") from err
        yield frame, dpi
        del frame


def _dpi(image: Image) -> int:
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        value = 0
    return value if 70 <= value <= 1200 else ASSUMED_DPI


def iter_frames(data: bytes, limits: Limits | None = None) -> Iterator[Image]:
    """The page images of an image file, one at a time, for a preview that shows the page (no OCR)."""
    limits = limits or Limits.from_env()
    image = _open(data)
    with image:
        for frame, _ in _frames(image, _frame_count(image, limits), limits):
            yield frame
