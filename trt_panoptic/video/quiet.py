"""Silencing native stderr: FFmpeg and OpenCV print probe failures straight to file descriptor 2.

Used only around calls whose failure we turn into our own one-line error (codec probes, the first open
of a camera or stream), so users see that line instead of a page of FFmpeg noise. With debug logging on
(``trt-panoptic -v``) nothing is silenced.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator


@contextlib.contextmanager
def silenced_native_stderr() -> Iterator[None]:
    """Redirect fd 2 to /dev/null while inside (process-wide: keep the block short)."""
    if logging.getLogger("trt_panoptic").isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
