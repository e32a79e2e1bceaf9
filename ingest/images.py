"""Image files (.png, .jpg, .jpeg, .tif, .tiff): a photo or scan of a page, read by OCR.

Each image is one page; a multi-page TIFF (the usual fax/scanner output) gives one page per frame.
The resolution stored in the file tells Tesseract how large the letters are; files without one are
assumed to be 300 dpi scans, the common scanner default.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
) -> LoadedFile:
    if not ocr:
        raise LoadError("image files are read by OCR, which is turned off")
    frames = _frames(data)
    loaded = LoadedFile(path=path, kind="image", title=title_from_stem(path), pages=[""] * len(frames))
    numbered = ((i + 1, frame, dpi) for i, (frame, dpi) in enumerate(frames))
    apply_ocr(loaded, numbered, len(frames), languages=languages, progress=progress)
    if not any(page.strip() for page in loaded.pages):
        raise LoadError("no text found by OCR in the image")
    return loaded


def _frames(data: bytes) -> list[tuple[Image, int]]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        frames = [(frame.convert("L"), _dpi(frame)) for frame in ImageSequence.Iterator(image)]
    except UnidentifiedImageError as err:
        raise LoadError("not a readable image (corrupt, or the extension is wrong)") from err
    except Image.DecompressionBombError as err:
        raise LoadError("image too large to read safely (over Pillow's decompression-bomb limit)") from err
    except (OSError, SyntaxError, ValueError) as err:  # truncated or malformed image data
        reason = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        raise LoadError(f"corrupt image: {reason}") from err
    if not frames:
        raise LoadError("image has no frames")
    return frames


def _dpi(image: Image) -> int:
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        value = 0
    return value if 70 <= value <= 1200 else ASSUMED_DPI


def iter_frames(data: bytes) -> Iterator[Image]:
    """The page images of an image file, for a preview that shows the page (no OCR)."""
    for frame, _ in _frames(data):
        yield frame
