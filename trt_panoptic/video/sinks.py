"""Frame sinks: video file, window, image folder, COCO panoptic PNG + JSON, or nothing.

:func:`open_sink` parses an ``--output`` string and checks the destination is writable *before* the
pipeline starts. Files are written to a temporary name in the destination folder and renamed into place
on :meth:`FrameSink.close`, so an interrupted run never leaves a half-written file under the real name
and a clean shutdown (Ctrl-C, SIGTERM) always leaves a playable one.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trt_panoptic.atomic_io import atomic_write_json, check_writable_dir
from trt_panoptic.data.coco_panoptic import coco_segments_info, write_panoptic_png
from trt_panoptic.data.frames import check_video_frames, check_video_writer, cv2_module
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.runtime.result import PanopticResult
from trt_panoptic.video.quiet import silenced_native_stderr
from trt_panoptic.video.sources import FrameStamp

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")
# Codecs tried in order per container; H.264 only where the OpenCV build can encode it (probed).
_CODECS = {
    ".mp4": ("avc1", "mp4v"),
    ".m4v": ("avc1", "mp4v"),
    ".mov": ("avc1", "mp4v"),
    ".avi": ("MJPG",),
    ".mkv": ("avc1", "MJPG"),
}


@dataclass
class StreamInfo:
    """What sinks learn when the pipeline starts: nominal frame rate (frames/s), class names and their dataset
    category ids (empty: 1..T for things, then T+1..T+S for stuff), mode."""

    fps: float
    thing_classes: list[str] = field(default_factory=list)
    stuff_classes: list[str] = field(default_factory=list)
    realtime: bool = False  # frames are dropped to keep up with a live source
    thing_ids: list[int] = field(default_factory=list)
    stuff_ids: list[int] = field(default_factory=list)
    backend: str = ""  #: the predictor's backend name, for outputs that record it

    def category_ids(self) -> tuple[list[int], list[int]]:
        """(thing ids, stuff ids): the model's dataset ids, or contiguous ids when it has none."""
        n = len(self.thing_classes)
        things = list(self.thing_ids) or list(range(1, n + 1))
        stuff = list(self.stuff_ids) or list(range(n + 1, n + len(self.stuff_classes) + 1))
        return things, stuff


@dataclass(frozen=True)
class FrameTiming:
    """What one frame's stages took, in seconds (for sinks that record per-frame stats)."""

    decode_s: float  #: reading and decoding it from the source
    queue_s: float  #: waiting for the model
    infer_s: float  #: the predictor
    render_s: float  #: the overlay
    since_capture_s: float  #: from leaving the decoder to the sinks' writes


class FrameSink(ABC):
    """Receives every processed frame: the original BGR image, its rendering and the prediction."""

    description: str = ""

    def start(self, info: StreamInfo) -> None:
        """Called once before the first frame."""
        self.info = info

    @abstractmethod
    def write(self, index: int, name: str, image: np.ndarray, rendered: np.ndarray, result: PanopticResult,
              *, timestamp: float | None = None, source_file: str | None = None, stamp: FrameStamp | None = None,
              timing: FrameTiming | None = None) -> None:
        """Consume frame ``index`` (0-based output order) named ``name``; images are BGR uint8 [H, W, 3];
        ``timestamp`` is the capture time in seconds (``time.perf_counter`` clock); ``source_file`` the
        frame's own file name when it came from one (image folders), else None; ``stamp`` when the frame was
        taken and recorded (:class:`~trt_panoptic.video.sources.FrameStamp`); ``timing`` what its stages took.
        The pipeline always passes ``stamp`` and ``timing``."""

    def close(self) -> None:
        """Flush and move outputs into place; safe to call more than once."""

    @property
    def wants_stop(self) -> bool:
        """True when the user asked this sink to end the run (a window's q/Esc key)."""
        return False

    #: True when :meth:`pump` must run often on the pipeline's calling (main) thread, e.g. GUI event loops.
    needs_pump = False

    def pump(self) -> None:
        """Main-thread work between frames (GUI sinks); called every few milliseconds when ``needs_pump``."""


class NullSink(FrameSink):
    """Discards frames (``--output none``): for benchmarks and stats-only runs."""

    description = "none"

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        pass


@functools.lru_cache(maxsize=None)
def codec_available(fourcc: str, suffix: str = ".mp4") -> bool:
    """Whether this OpenCV build can write ``fourcc`` into a ``suffix`` file that reads back (probed once)."""
    cv2 = cv2_module()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"probe{suffix}")
        with silenced_native_stderr():
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 10.0, (64, 64))
            ok = writer.isOpened()
            if ok:
                for i in range(2):
                    writer.write(np.full((64, 64, 3), 60 * i, np.uint8))
            writer.release()
            if not ok or not os.path.exists(path) or os.path.getsize(path) == 0:
                return False
            cap = cv2.VideoCapture(path)
            ok = bool(cap.read()[0])
            cap.release()
    return ok


def choose_codec(suffix: str, requested: str | None = None) -> str:
    """FourCC for a video file with ``suffix``: ``requested`` if given, else H.264 when encodable, else the
    container's classic codec (mp4v for .mp4/.mov, MJPG for .avi/.mkv)."""
    suffix = suffix.lower()
    if requested:
        if len(requested) != 4:
            raise TrtPanopticError(f"codec should be a 4-character FourCC like mp4v, MJPG or avc1, got '{requested}' "
                                   "— pass --codec mp4v")
        return requested
    candidates = _CODECS[suffix]
    for fourcc in candidates[:-1]:
        if codec_available(fourcc, suffix):
            return fourcc
    return candidates[-1]


def check_new_or_empty_dir(folder: Path, what: str) -> None:
    """Refuse a folder that already holds files: numbered frames of an earlier run would mix with this one's."""
    if folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir()):
        raise TrtPanopticError(
            f"{what} should go into a new or empty folder, got '{folder}' with files of an earlier run — "
            "choose another folder or delete it"
        )


class VideoFileSink(FrameSink):
    """Rendered frames into a video file; FourCC from :func:`choose_codec`.

    Frames whose size differs from the first one (image folders) are resized to it. The file is
    written as ``<stem>.partial<suffix>`` beside the target and renamed on :meth:`close`.

    Args:
        path: target file; its suffix picks the container.
        fps: frame rate to write when the source has none (image folders).
        codec: FourCC to force (``--codec``), else chosen automatically.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | None = None, codec: str | None = None) -> None:
        self.path = Path(path)
        self.description = str(path)
        suffix = self.path.suffix.lower()
        if suffix not in _CODECS:
            raise TrtPanopticError(f"video output should end in {', '.join(VIDEO_SUFFIXES)}, got '{path}' — "
                                   "rename it")
        if self.path.is_dir():
            raise TrtPanopticError(f"video output should be a file, got the folder '{path}' — add a file name")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise TrtPanopticError(f"video output should be writable, got '{path}' (read-only) — choose another path")
        check_writable_dir(self.path.parent, "video output")
        self._fps_override = fps
        self._requested_codec = codec
        self._tmp = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        self._writer = None
        self._size: tuple[int, int] | None = None
        self._fps = 30.0
        self._t0: float | None = None
        self.frames = 0  # video frames written (live runs repeat frames to keep true speed)
        self.codec = ""

    def _open(self, width: int, height: int) -> None:
        cv2 = cv2_module()
        self.codec = choose_codec(self.path.suffix, self._requested_codec)
        fps = self._fps_override or getattr(self, "info", StreamInfo(30.0)).fps or 30.0
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.codec), float(fps), (width, height))
        check_video_writer(self._writer, self.path, f"{self.codec} is not available: pass --codec mp4v or use a .avi output")
        self._size = (width, height)
        self._fps = float(fps)
        logger.info("writing %s (%s, %dx%d, %.1f FPS)", self.path, self.codec, width, height, fps)

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        h, w = rendered.shape[:2]
        if self._writer is None:
            self._open(w, h)
        if (w, h) != self._size:
            rendered = cv2_module().resize(rendered, self._size, interpolation=cv2_module().INTER_AREA)
        repeats = 1
        info = getattr(self, "info", None)
        if info is not None and info.realtime and timestamp is not None:
            # Live runs drop frames; repeating each written frame until the next one keeps the recording
            # at true speed (a 10 s freeze at most, e.g. across a reconnect).
            if self._t0 is None:
                self._t0 = timestamp
            due = int(round((timestamp - self._t0) * self._fps)) + 1
            repeats = min(max(1, due - self.frames), int(self._fps * 10))
        for _ in range(repeats):
            self._writer.write(rendered)
        self.frames += repeats

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        try:
            if self.frames:
                # the writer reports no failure (full disk, encoder): the file itself must show every frame
                check_video_frames(self._tmp, self.frames, self.path)
                os.chmod(self._tmp, 0o644)
                os.replace(self._tmp, self.path)
        finally:
            if self._tmp.exists():
                self._tmp.unlink()


class ImageFolderSink(FrameSink):
    """Rendered frames as numbered images in a folder (``--output DIR/``; JPEG unless ``ext`` says otherwise)."""

    def __init__(self, folder: str | os.PathLike, *, ext: str = ".jpg") -> None:
        self.folder = Path(folder)
        self.description = str(folder)
        self.ext = ext
        check_new_or_empty_dir(self.folder, "image output")
        check_writable_dir(self.folder, "image output")

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        cv2 = cv2_module()
        target = self.folder / f"{index:06d}{self.ext}"
        tmp = self.folder / f".{index:06d}.partial{self.ext}"
        if not cv2.imwrite(str(tmp), rendered):
            raise TrtPanopticError(f"image output should be writable, got a failed write of '{target}' — "
                                   "check free disk space")
        os.replace(tmp, target)


class CocoPanopticSink(FrameSink):
    """Predictions in the COCO panoptic format (``--output coco:DIR``): ``DIR/panoptic/<name>.png`` per frame
    with RGB-encoded segment ids, and ``DIR/panoptic.json`` (images, annotations, categories) written on close.

    Category ids are the model's dataset ids (``thing_ids``/``stuff_ids`` of its config, e.g. COCO's), or
    contiguous (things 1..T, then stuff T+1..T+S) for a model without them.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.description = f"coco:{folder}"
        check_new_or_empty_dir(self.folder, "COCO output")
        check_writable_dir(self.folder / "panoptic", "COCO output")
        self._images: list[dict] = []
        self._annotations: list[dict] = []

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        thing_ids, stuff_ids = self.info.category_ids()
        file_stem = name or f"{index:06d}"
        png = f"{file_stem}.png"
        write_panoptic_png(self.folder / "panoptic" / png, result.panoptic)
        segments = coco_segments_info(result.panoptic, result.segments_info, thing_ids, stuff_ids)
        h, w = result.panoptic.shape
        # the input image's own name; a video frame has none, so it gets its frame name as a .jpg
        self._images.append({"id": index, "file_name": source_file or f"{file_stem}.jpg", "height": h, "width": w})
        self._annotations.append({"image_id": index, "file_name": png, "segments_info": segments})

    def close(self) -> None:
        info = getattr(self, "info", StreamInfo(0.0))
        thing_ids, stuff_ids = info.category_ids()
        categories = [
            {"id": i, "name": n, "isthing": 1, "supercategory": "thing"} for i, n in zip(thing_ids, info.thing_classes)
        ] + [
            {"id": i, "name": n, "isthing": 0, "supercategory": "stuff"} for i, n in zip(stuff_ids, info.stuff_classes)
        ]
        atomic_write_json(self.folder / "panoptic.json",
                          {"images": self._images, "annotations": self._annotations, "categories": categories})


def display_available() -> bool:
    """Whether a window can be shown: a display server is set and OpenCV has a GUI backend (not -headless)."""
    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    cv2 = cv2_module()
    try:
        cv2.namedWindow("trt-panoptic-probe", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("trt-panoptic-probe")
    except cv2.error:
        return False
    return True


class WindowSink(FrameSink):
    """Shows rendered frames in a window; q or Esc asks the pipeline to stop.

    GUI toolkits (Qt, Cocoa) want their calls on the main thread, so :meth:`write` (render thread) only
    keeps the newest frame and :meth:`pump`, which the pipeline calls from the thread running
    :meth:`Pipeline.run`, shows it and polls the keyboard.
    """

    needs_pump = True

    def __init__(self, title: str = "trt-panoptic") -> None:
        if not display_available():
            raise TrtPanopticError(
                "window output should have a display and a GUI OpenCV, got none (no DISPLAY, or opencv-python-headless)"
                " — write a file with --output out.mp4, or install opencv-python on a desktop"
            )
        self.title = title
        self.description = "window"
        self._stop = False
        self._latest: np.ndarray | None = None
        self._lock = threading.Lock()

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        with self._lock:
            self._latest = rendered

    def pump(self) -> None:
        with self._lock:
            frame, self._latest = self._latest, None
        cv2 = cv2_module()
        if frame is not None:
            cv2.imshow(self.title, frame)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self._stop = True

    @property
    def wants_stop(self) -> bool:
        return self._stop

    def close(self) -> None:
        with contextlib.suppress(Exception):
            cv2_module().destroyWindow(self.title)


def open_sink(spec: str, *, fps: float | None = None, codec: str | None = None,
              passthrough: list[Path] | None = None) -> FrameSink:
    """Parse one ``--output`` value and check it is writable, or raise a one-line TrtPanopticError.

    ``none`` → :class:`NullSink`; ``window`` → :class:`WindowSink`; ``*.mp4|.avi|.mkv|.mov|.m4v`` →
    :class:`VideoFileSink`; ``*.mcap`` → a ROS 2 result bag (:class:`~trt_panoptic.video.bag_sink.BagSink`,
    copying every message of the ``passthrough`` bag files too); ``foxglove[:PORT]`` → a live Foxglove
    WebSocket (:class:`~trt_panoptic.video.foxglove_sink.FoxgloveSink`); ``coco:DIR`` →
    :class:`CocoPanopticSink`; anything else (a folder, or a path ending in ``/``) → :class:`ImageFolderSink`.
    """
    spec = spec.strip()
    if spec.lower() == "none":
        return NullSink()
    if spec.lower() == "foxglove" or spec.lower().startswith("foxglove:"):
        from trt_panoptic.video.foxglove_sink import FoxgloveSink, parse_foxglove_spec

        host, port = parse_foxglove_spec(spec)
        return FoxgloveSink(host, port)
    if spec.lower().endswith(".mcap"):
        from trt_panoptic.video.bag_sink import BagSink

        return BagSink(Path(spec).expanduser(), passthrough=passthrough)
    if spec.lower() in ("window", "show"):
        return WindowSink()
    if spec.lower().startswith("coco:"):
        return CocoPanopticSink(spec[5:])
    path = Path(spec).expanduser()
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoFileSink(path, fps=fps, codec=codec)
    if path.suffix and not spec.endswith(("/", os.sep)) and not path.is_dir():
        raise TrtPanopticError(
            f"output should be a video ({', '.join(VIDEO_SUFFIXES)}), a .mcap bag, a folder, coco:DIR, foxglove[:PORT], "
            f"window or none, got '{spec}'"
            " — use one of those"
        )
    return ImageFolderSink(path)


