"""Frames from disk: image files, image folders and globs, video files — and the one OpenCV import.

Every reader of pictures or video frames (frame sources, calibration data, datasets, predict) comes
through here, so which files count as images, the order they are read in, and what counts as a decoded
frame are decided once. OpenCV is optional; :func:`cv2_module` imports it with the one install hint.
"""
from __future__ import annotations

import glob
import logging
import os
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator

import numpy as np

from trt_panoptic.errors import BrokenOutputError, TrtPanopticError, import_optional

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
CV2_INSTALL_HINT = "pip install opencv-python-headless"


def cv2_module() -> ModuleType:
    """OpenCV's ``cv2``, imported on first use; a one-line :class:`TrtPanopticError` names the install when missing."""
    return import_optional("cv2", CV2_INSTALL_HINT)


# ------------------------------------------------------------------------------------------- listing
def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an existing file with an image suffix (any case: ``.JPG`` counts)."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def natural_key(path: str | os.PathLike) -> list[int | str]:
    """Sort key that puts frame2 before frame10: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def image_files(paths: Iterable[str | os.PathLike], *, natural: bool = True) -> list[Path]:
    """The image files among ``paths`` (folders and other files dropped), in a stable order.

    Args:
        paths: candidate paths, in any order.
        natural: digit runs compare as numbers (frame2 before frame10, as a numbered clip plays);
            False sorts plainly by path.
    """
    images = [Path(p) for p in paths if is_image_file(p)]
    return sorted(images, key=natural_key) if natural else sorted(images)


def folder_images(folder: str | os.PathLike, *, natural: bool = True) -> list[Path]:
    """The image files directly inside ``folder`` (not its subfolders), ordered as :func:`image_files`."""
    return image_files(Path(folder).iterdir(), natural=natural)


def glob_images(pattern: str) -> list[Path]:
    """The image files a glob pattern (``'frames/*.png'``) matches, in natural order."""
    return image_files(glob.glob(pattern))


# ------------------------------------------------------------------------------------------ decoding
def is_bgr_image(image: np.ndarray | None) -> bool:
    """Whether ``image`` is a usable decoded frame: a non-empty BGR uint8 array [H, W, 3]."""
    return (image is not None and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            and image.size > 0)


#: Largest picture read, in pixels (width × height), checked from the file's header before decoding. 8K UHD
#: (33 MP) fits; an 8000×8000 PNG of a few hundred KB would otherwise take GBs and minutes to decode and run.
DEFAULT_MAX_PIXELS = 40_000_000


def image_problem(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Why the encoded picture ``data`` should not be decoded ("should be …, got …"), or None when it may be.

    OpenCV decodes a truncated JPEG or PNG without an error (the missing rows come out grey), so the end of
    the file is checked: a JPEG's last scan (SOS marker) must be followed by its end marker (EOI; 0xFFD9
    cannot occur inside entropy-coded data, where 0xFF is stuffed), a PNG must hold its IEND chunk. The
    size comes from the header (Pillow reads only that), so a huge picture is refused before it is decoded.
    """
    if data.startswith(b"\xff\xd8"):
        eoi = data.rfind(b"\xff\xd9")  # from the end: a complete file ends in it (maybe some trailing bytes)
        if eoi < 2 or data.find(b"\xff\xda", eoi) >= 0:  # none, or only a thumbnail's before the last scan
            return "should be a complete picture, got a truncated JPEG (its end marker is missing)"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        end = data.rfind(b"\x00\x00\x00\x00IEND")  # the chunk: zero length, type, then its 4-byte CRC
        if end < 0 or len(data) < end + 12:
            return "should be a complete picture, got a truncated PNG (its IEND chunk is missing)"
    size = _header_size(data)
    if size == _TOO_LARGE_TO_OPEN:
        bound = 2 * _pillow_pixel_limit()
        return (f"should be within the pixel limit, got more than {bound:,} pixels (--max-pixels {max_pixels:,})"
                if max_pixels < bound else None)
    if size is not None and size[0] * size[1] > max_pixels:
        return f"should be within the pixel limit, got {size[0]}x{size[1]} pixels, above {max_pixels:,} (--max-pixels)"
    return None


#: What :func:`_header_size` returns for a picture Pillow will not open (above twice ``Image.MAX_IMAGE_PIXELS``).
_TOO_LARGE_TO_OPEN = (-1, -1)


def _pillow_pixel_limit() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 0)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the picture's header, or None when Pillow does not know the format."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError:  # Pillow refuses to describe it: above twice its MAX_IMAGE_PIXELS
        return _TOO_LARGE_TO_OPEN
    except Exception:  # noqa: BLE001 — unknown or damaged header: OpenCV decides
        return None


def decode_image_checked(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, *, what: str = "image",
                         fix: str = "replace it") -> np.ndarray:
    """The picture at ``path`` as uint8 [H, W, 3] BGR (grey expanded to 3 channels).

    Args:
        max_pixels: refuse pictures with more pixels than this (read from the header, before decoding).
        what, fix: how the one-line errors name the file and what they suggest.

    Raises:
        TrtPanopticError: unreadable, truncated, too large (see :func:`image_problem`) or not a picture.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrtPanopticError(f"{what} {path} should be a readable file, got {exc.strerror or exc} — {fix}") from None
    problem = image_problem(data, max_pixels)
    if problem is not None:
        raise TrtPanopticError(f"{what} {path} {problem} — {fix}")
    cv2 = cv2_module()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if not is_bgr_image(image):
        raise TrtPanopticError(f"{what} {path} should be a readable image, got a corrupt or non-image file — {fix}")
    return image


def decode_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """:func:`decode_image_checked`, or None (with a warning that says why) for readers that skip bad files and
    count them rather than stop."""
    try:
        return decode_image_checked(path, max_pixels, fix="skipped")
    except TrtPanopticError as exc:
        logger.warning("%s", exc)
        return None


def read_image_bgr(path: str | os.PathLike, *, what: str = "image", folder: str = "images/",
                   fix: str = "replace it", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a picture as uint8 [H, W, 3] BGR (grey images are expanded to 3 channels).

    Args:
        what, folder, fix: how the one-line errors name the file, the dataset folder it belongs in, and the fix.
        max_pixels: see :func:`decode_image_checked`.

    Raises:
        TrtPanopticError: the file is missing, corrupt, truncated or too large.
    """
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"{what} {path} should exist, got no such file — check the dataset's {folder} folder")
    return decode_image_checked(path, max_pixels, what=what, fix=fix)


# ------------------------------------------------------------------------------------------- video
def open_video(path: str | os.PathLike) -> Any | None:
    """An opened ``cv2.VideoCapture`` on a video file (or a URL of one), or None when OpenCV cannot open it."""
    cap = cv2_module().VideoCapture(str(path))
    if cap.isOpened():
        return cap
    cap.release()
    return None


#: Below this many free bytes a video writer that does not open is blamed on the disk, not on the codec.
_MIN_FREE_BYTES = 1 << 20


def check_video_writer(writer: Any, target: str | os.PathLike, codec_hint: str) -> None:
    """Raise a one-line error unless ``cv2.VideoWriter`` ``writer`` (for ``target``) opened.

    OpenCV says only that it did not open; a full disk is the usual cause on a robot, so it is named when the
    folder has (almost) no room left, else ``codec_hint`` says what to try.
    """
    if writer.isOpened():
        return
    folder = Path(target).parent
    if shutil.disk_usage(folder).free < _MIN_FREE_BYTES:
        raise BrokenOutputError(f"video {target} should have room on its disk, got a full disk at {folder} — free "
                                "space or choose another folder")
    raise TrtPanopticError(f"video {target} should be encodable by this OpenCV, got a writer that does not open — "
                           f"{codec_hint}")


def check_video_frames(path: str | os.PathLike, expected: int, target: str | os.PathLike) -> None:
    """Raise a one-line error unless the video file just written at ``path`` holds ``expected`` frames.

    ``cv2.VideoWriter.write`` returns nothing and a full disk or a dying encoder only shows in the file
    (e.g. an mp4 without its index), so a writer's temp file is reopened and counted before it is renamed
    to ``target``, the name the user asked for.
    """
    cv2 = cv2_module()
    cap = open_video(path)
    found = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap is not None else 0
    if cap is not None:
        cap.release()
    if found != expected:
        raise BrokenOutputError(f"video {target} should hold the {expected} frames written, got "
                               f"{'an unreadable file' if cap is None else f'{found} frames'} (disk full or encoder "
                               "failure) — free space or choose another output; nothing was kept")


def video_frames(path: str | os.PathLike, *, every_k: int = 1, wanted: set[int] | None = None
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """(index, BGR frame) for frames 0, k, 2k, … of a video file that decode, in file order.

    Frames in between are only grabbed, not decoded, which is what makes a large ``every_k`` cheap.
    A file OpenCV cannot open yields nothing.

    Args:
        path: the video file.
        every_k: frame stride.
        wanted: only these frame indices (reading stops after the last one); None for all.
    """
    cap = open_video(path)
    if cap is None:
        return
    try:
        index = 0
        while cap.grab():
            if index % every_k == 0 and (wanted is None or index in wanted):
                ok, frame = cap.retrieve()
                if ok and is_bgr_image(frame):
                    yield index, frame
                if wanted is not None and index >= max(wanted):
                    break
            index += 1
    finally:
        cap.release()
