"""File helpers of the engine layer: SHA-256 of a file (engine sidecars record ONNX and plugin hashes)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from trt_panoptic.errors import TrtPanopticError


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the bytes of ``path`` (read in 1 MiB chunks)."""
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"file should exist, got {str(path)!r} — check the path")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
