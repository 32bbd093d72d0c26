"""The ONNX the onnxruntime backend exports for itself, kept on disk so that a second run does not export again.

The key covers everything the graph depends on: the weights file's bytes, the config, the input size, the
flavour and tail, and the source of the code that builds the graph (``export``, ``modeling``, ``ops``), so
an upgrade or an edit never serves a stale graph. The folder is ``$TRT_PANOPTIC_CACHE``, else
``$XDG_CACHE_HOME/trt_panoptic``, else ``~/.cache/trt_panoptic``; a folder that cannot be written only costs
the export.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import onnx

from trt_panoptic.atomic_io import atomic_write_bytes
from trt_panoptic.config import Config

logger = logging.getLogger(__name__)

#: The packages whose source shapes an exported graph.
_GRAPH_SOURCES = ("export", "modeling", "ops")


def cache_dir() -> Path:
    """Where exported graphs are kept (see the module docstring)."""
    if os.environ.get("TRT_PANOPTIC_CACHE"):
        return Path(os.environ["TRT_PANOPTIC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trt_panoptic"


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in _GRAPH_SOURCES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_key(weights: Path, cfg: Config, **options: object) -> str:
    """The cache key of an export of ``weights`` with ``cfg`` and export ``options`` (size, flavour, tail…)."""
    record = {"weights": _file_sha256(weights), "config": cfg.to_dict(), "options": options, "code": _code_fingerprint()}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]


def cached_export(key: str, export: Callable[[], onnx.ModelProto]) -> onnx.ModelProto:
    """The graph stored under ``key``, or ``export()``'s, stored for next time."""
    path = cache_dir() / "onnx" / f"{key}.onnx"
    if path.is_file():
        try:
            model = onnx.load(str(path))
            logger.info("export: reusing %s", path)
            return model
        except Exception as exc:  # a damaged cache entry is exported again
            logger.warning("export: cached graph %s is unreadable (%s); exporting again", path, type(exc).__name__)
    model = export()
    try:
        atomic_write_bytes(path, model.SerializeToString())
        logger.info("export: kept in %s for the next run", path)
    except Exception as exc:  # an unwritable cache only costs the export next time
        logger.info("export: not cached (%s)", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return model
