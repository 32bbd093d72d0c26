"""Frames from disk: image files, image folders and globs, video files — and the one OpenCV import.

Every reader of pictures or video frames (frame sources, calibration data, datasets, predict) comes
through here, so which files count as images, the order they are read in, and what counts as a decoded
frame are decided once. OpenCV is optional; :func:`cv2_module` imports it with the one install hint.
"""
from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator

import numpy as np

from trt_panoptic.errors import TrtPanopticError, import_optional

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


def decode_image(path: str | os.PathLike) -> np.ndarray | None:
    """The picture at ``path`` as uint8 [H, W, 3] BGR (grey expanded to 3 channels), or None when it is
    missing or OpenCV cannot decode it — for readers that skip bad files rather than stop."""
    cv2 = cv2_module()
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return image if is_bgr_image(image) else None


def read_image_bgr(path: str | os.PathLike, *, what: str = "image", folder: str = "images/",
                   fix: str = "replace it") -> np.ndarray:
    """Read a picture as uint8 [H, W, 3] BGR (grey images are expanded to 3 channels).

    Args:
        what, folder, fix: how the one-line errors name the file, the dataset folder it belongs in, and the fix.

    Raises:
        TrtPanopticError: the file is missing or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"{what} {path} should exist, got no such file — check the dataset's {folder} folder")
    image = decode_image(path)
    if image is None:
        raise TrtPanopticError(f"{what} {path} should be a readable image, got a corrupt or non-image file — {fix}")
    return image


# ------------------------------------------------------------------------------------------- video
def open_video(path: str | os.PathLike) -> Any | None:
    """An opened ``cv2.VideoCapture`` on a video file (or a URL of one), or None when OpenCV cannot open it."""
    cap = cv2_module().VideoCapture(str(path))
    if cap.isOpened():
        return cap
    cap.release()
    return None


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
