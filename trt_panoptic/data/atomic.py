"""Atomic writes: a file or a whole output folder appears complete or not at all.

Files are written to a temporary name in the same folder and renamed (``os.replace`` is atomic on one
file system); an output folder is built in a hidden sibling folder and renamed into place at the end.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from trt_panoptic.errors import TrtPanopticError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_output_dir(out: str | Path, force: bool) -> Path:
    """Refuse a non-empty ``out`` unless ``force``; an existing plain file is always refused."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TrtPanopticError(f"--out should be a folder, got the file {out} — choose another path")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise TrtPanopticError(f"--out {out} should be empty or absent, got a non-empty folder — pass --force to replace it")
    return out


@contextlib.contextmanager
def atomic_output_dir(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` (removed only then, if ``force``).

    Raises:
        TrtPanopticError: ``out`` is a file, or a non-empty folder and ``force`` is False.
    """
    out = check_output_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "d")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
