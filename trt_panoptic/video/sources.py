"""Frame sources: video files, image folders/globs, cameras, V4L2 devices, network streams, GStreamer.

:func:`open_source` turns the user's ``--source`` string into an opened :class:`FrameSource`, or raises a
one-line :class:`~trt_panoptic.errors.TrtPanopticError` before anything else starts. A source only
decodes frames; queueing, frame dropping and reconnect backoff belong to the pipeline.
"""
from __future__ import annotations

import logging
import os
import re
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from trt_panoptic.data.frames import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    cv2_module,
    decode_image,
    folder_images,
    glob_images,
    is_bgr_image,
    open_video,
)
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.video.quiet import silenced_native_stderr

logger = logging.getLogger(__name__)

_URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.IGNORECASE)
_V4L2 = re.compile(r"^/dev/video\d+$")


class ReadStatus(Enum):
    """Outcome of one :meth:`FrameSource.read`."""

    FRAME = "frame"
    CORRUPT = "corrupt"  # this frame could not be decoded; later ones may be fine
    END = "end"  # a finite source is exhausted
    DISCONNECTED = "disconnected"  # a live source stopped delivering; the pipeline may reopen() it


@dataclass(frozen=True)
class FrameStamp:
    """When a frame was taken, in integer nanoseconds (float seconds cannot hold a ROS time exactly).

    Attributes:
        stamp_ns: acquisition time — a bag's header stamp; a camera's capture time (Unix epoch); a file's
            frame position / fps (from 0).
        log_time_ns: when the frame was recorded — a bag message's log time; the stamp for other sources.
        frame_id: the camera's coordinate frame (a bag header's ``frame_id``), else ``""``.
    """

    stamp_ns: int
    log_time_ns: int
    frame_id: str = ""

    @classmethod
    def at(cls, stamp_ns: int, frame_id: str = "") -> FrameStamp:
        """A stamp that is also its log time (sources that do not record)."""
        return cls(int(stamp_ns), int(stamp_ns), frame_id)

    @classmethod
    def from_position(cls, position: int, fps: float | None) -> FrameStamp:
        """Frame ``position`` of a file at ``fps`` (30 when unknown), counted from 0."""
        return cls.at(round(position * 1e9 / (fps or DEFAULT_FPS)))


DEFAULT_FPS = 30.0  #: frame rate assumed for stamps when a source has none (image folders)


@dataclass
class Read:
    """One read: a BGR uint8 image [H, W, 3] when ``status`` is FRAME, a name for file outputs and the frame's
    :class:`FrameStamp`."""

    status: ReadStatus
    image: np.ndarray | None = None
    name: str | None = None
    file_name: str | None = None  #: the image's own file name (image folders), for outputs that record it
    stamp: FrameStamp | None = None  #: None only from sources outside this module; the pipeline then uses its position


class FrameSource(ABC):
    """A stream of BGR uint8 frames.

    Attributes:
        description: what the user passed, for logs and stats.
        is_live: frames arrive in real time whether we read them or not (cameras, streams, paced
            files), so the pipeline keeps only the newest one; otherwise every frame is processed.
        fps: nominal frame rate (frames/s) or None when unknown (image folders).
        num_frames: frame count when known in advance (files), else None.
    """

    description: str = ""
    is_live: bool = False
    fps: float | None = None
    num_frames: int | None = None

    @abstractmethod
    def read(self) -> Read:
        """Block until the next frame (or an end/corrupt/disconnect status) is available."""

    def reopen(self) -> bool:
        """Try to reconnect after DISCONNECTED; True when frames can be read again. Finite sources: False."""
        return False

    def close(self) -> None:
        """Release the underlying capture; reading afterwards is an error."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFileSource(FrameSource):
    """A video file decoded by OpenCV (FFmpeg backend).

    A failed read is either a corrupt frame or the end of the file; OpenCV cannot tell them apart, so
    after a failure up to ``max_consecutive_failures`` more reads are tried: if one succeeds, the
    failures were corrupt frames (skipped and counted), otherwise the file has ended — which is also
    how a truncated file ends, with the frames it had.

    Args:
        path: the video file.
        pace: deliver frames at the file's own frame rate, as a camera would (``--realtime`` on a file);
            the source then counts as live.
        max_consecutive_failures: failed reads in a row that mean end of file.
        max_pixels: refuse a file whose frames have more pixels (before decoding any).
    """

    def __init__(self, path: str | os.PathLike, *, pace: bool = False, max_consecutive_failures: int = 5,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        cv2 = cv2_module()
        self.path = path  # a str for http(s) URLs: Path() would fold their '//'
        self.description = str(path)
        with silenced_native_stderr():  # our one-line error replaces FFmpeg's messages
            cap = open_video(path)
        if cap is None:
            raise TrtPanopticError(
                f"source should be a video OpenCV can decode, got '{path}' (cannot open it) — "
                "check the file or convert it with ffmpeg -i IN -c:v libx264 OUT.mp4"
            )
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if width * height > max_pixels:
            cap.release()
            raise TrtPanopticError(f"source should have frames within {max_pixels:,} pixels (--max-pixels), got "
                                   f"{width}x{height} in '{path}' — downscale it with ffmpeg or raise --max-pixels")
        self._cap = cap
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else None
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.num_frames = count if count > 0 else None
        self.is_live = pace
        self._pace_period = 1.0 / (self.fps or 30.0) if pace else 0.0
        self._next_due = 0.0
        self._max_failures = max_consecutive_failures
        self._pending: deque[Read] = deque()
        self._ended = False
        self._position = 0  # frames consumed from the file, corrupt ones included
        # Decode the first frame now so an unreadable file fails before anything starts.
        with silenced_native_stderr():
            self._decode_next()
        if not any(r.status is ReadStatus.FRAME for r in self._pending):
            self._cap.release()
            raise TrtPanopticError(
                f"source should contain decodable frames, got '{path}' (no frame could be decoded) — "
                "check the file or re-encode it with ffmpeg"
            )

    def _decode_next(self) -> None:
        """Queue the next frame, preceded by one CORRUPT per failed read before it (or END)."""
        failures = 0
        while True:
            ok, image = self._cap.read()
            self._position += 1
            if ok and is_bgr_image(image):
                self._pending.extend(Read(ReadStatus.CORRUPT) for _ in range(failures))
                position = self._position - 1
                self._pending.append(Read(ReadStatus.FRAME, image, f"{position:06d}",
                                          stamp=FrameStamp.from_position(position, self.fps)))
                return
            failures += 1
            if failures > self._max_failures:
                self._ended = True
                self._pending.append(Read(ReadStatus.END))
                return

    def read(self) -> Read:
        if not self._pending:
            if self._ended:
                return Read(ReadStatus.END)
            self._decode_next()
        result = self._pending.popleft()
        if self._pace_period and result.status is ReadStatus.FRAME:
            now = time.perf_counter()
            if self._next_due > now:
                time.sleep(self._next_due - now)
            self._next_due = max(self._next_due, now) + self._pace_period
        return result

    def close(self) -> None:
        self._cap.release()


class ImageFilesSource(FrameSource):
    """Images read one by one from a sorted list of files (a folder, a glob, or a single image).

    An unreadable image is a CORRUPT frame (skipped and counted); frames may differ in size.
    """

    def __init__(self, paths: list[Path], description: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self._paths = paths
        self._max_pixels = max_pixels
        self._next = 0
        self.description = description
        self.num_frames = len(paths)
        self.fps = None

    def read(self) -> Read:
        if self._next >= len(self._paths):
            return Read(ReadStatus.END)
        path = self._paths[self._next]
        position = self._next
        self._next += 1
        image = decode_image(path, self._max_pixels)  # warns with the reason when it cannot
        if image is None:
            return Read(ReadStatus.CORRUPT, name=path.stem)
        return Read(ReadStatus.FRAME, image, path.stem, path.name, stamp=FrameStamp.from_position(position, None))


class CaptureSource(FrameSource):
    """A live OpenCV capture: camera index, V4L2 device, network URL or GStreamer pipeline.

    A failed read means the device or stream went away: DISCONNECTED, and :meth:`reopen` builds a new
    capture. Driver buffering is set to one frame where supported so frames are as fresh as possible.
    """

    def __init__(self, target: int | str, *, api: int | None = None, description: str | None = None) -> None:
        self._target = target
        self._api = api
        self.description = description or str(target)
        self.is_live = True
        with silenced_native_stderr():  # our one-line error replaces FFmpeg's/V4L2's messages
            self._cap = self._open()
        if self._cap is None:
            raise TrtPanopticError(
                f"source should be a reachable camera/stream, got '{self.description}' (OpenCV cannot open it) — "
                "check the device index/path, URL or pipeline, and that nothing else holds the camera"
            )

    def _open(self):
        cv2 = cv2_module()
        cap = cv2.VideoCapture(self._target, self._api) if self._api is not None else cv2.VideoCapture(self._target)
        if not cap.isOpened():
            cap.release()
            return None
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else None
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # > 0: a finite file behind a URL
        return cap

    def read(self) -> Read:
        if self._cap is None:
            return Read(ReadStatus.DISCONNECTED)
        ok, image = self._cap.read()
        stamp = FrameStamp.at(time.time_ns())  # capture time: when the driver handed the frame over
        if not ok:
            return Read(ReadStatus.DISCONNECTED)
        if not is_bgr_image(image):
            return Read(ReadStatus.CORRUPT)
        return Read(ReadStatus.FRAME, image, stamp=stamp)

    def reopen(self) -> bool:
        self.close()
        self._cap = self._open()
        return self._cap is not None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _is_bag_path(spec: str) -> bool:
    """A .mcap path (existing or not: a missing one gets the bag's error), or a folder holding .mcap files."""
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".mcap":
        return True
    if not path.is_dir():
        return False
    from trt_panoptic.ros2.bags import is_bag

    return is_bag(path)


def has_gstreamer() -> bool:
    """Whether this OpenCV build was compiled with GStreamer (needed for pipeline-string sources)."""
    info = cv2_module().getBuildInformation()
    return bool(re.search(r"GStreamer:\s+YES", info))


def open_source(spec: str, *, pace_files: bool = False, topic: str | None = None,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> FrameSource:
    """Open the source a user names, or raise a one-line TrtPanopticError.

    Accepted ``spec``: a video file; a ROS 2 bag (a ``.mcap`` file, or a rosbag2 folder holding ``.mcap``
    files); an image file, folder or glob (``'frames/*.png'``); a camera index (``'0'``); a V4L2 device
    (``'/dev/video0'``); an ``rtsp://``/``http://``/``udp://`` URL; a GStreamer pipeline ending in
    ``appsink`` (OpenCV built with GStreamer, e.g. Jetson CSI cameras through ``nvarguscamerasrc``).

    Args:
        spec: the ``--source`` string.
        pace_files: play video files and bags at their own (recorded) rate, as live sources (``--realtime``).
        topic: a bag's image topic (``--topic``); only bags have topics.
        max_pixels: refuse pictures and compressed bag frames (skipped) and video files (an error) with larger
            frames.
    """
    cv2 = cv2_module()
    spec = spec.strip()
    if spec and _is_bag_path(spec):
        from trt_panoptic.video.bag_source import BagSource

        return BagSource(Path(spec).expanduser(), topic=topic, pace=pace_files, max_pixels=max_pixels)
    if topic is not None:
        raise TrtPanopticError(f"--topic should come with a ROS 2 bag source (.mcap or a rosbag2 folder), got '{spec}' "
                               "— drop --topic")
    if not spec:
        raise TrtPanopticError("source should be a file, folder, glob, camera index, /dev/videoN, URL or pipeline, "
                               "got '' — pass --source")
    if spec.isdigit():
        return CaptureSource(int(spec), description=f"camera {spec}")
    if _V4L2.match(spec):
        if not os.path.exists(spec):
            raise TrtPanopticError(f"source should be an existing V4L2 device, got '{spec}' (missing) — "
                                   "list cameras with v4l2-ctl --list-devices")
        return CaptureSource(spec, api=cv2.CAP_V4L2)
    if _URL.match(spec):
        stream = CaptureSource(spec, api=cv2.CAP_FFMPEG)
        if spec.lower().startswith(("http://", "https://")) and stream.frame_count > 0:
            # A video file served over HTTP, not a camera stream: read it once, every frame, and end
            # (as a live source it would "reconnect" at its end and loop forever).
            stream.close()
            return VideoFileSource(spec, pace=pace_files)
        return stream
    if "!" in spec and "appsink" in spec:
        if not has_gstreamer():
            raise TrtPanopticError(
                "source should be a GStreamer pipeline for an OpenCV built with GStreamer, got an OpenCV without it "
                "— use the system OpenCV (JetPack's python3-opencv) instead of the pip wheel"
            )
        return CaptureSource(spec, api=cv2.CAP_GSTREAMER, description="gstreamer pipeline")
    path = Path(spec).expanduser()
    if any(ch in spec for ch in "*?[") and not path.exists():  # an existing 'clip[1].mp4' is a file, not a glob
        images = glob_images(str(path))
        if not images:
            raise TrtPanopticError(f"source glob should match image files, got '{spec}' (no images match) — "
                                   f"check the pattern; images are {', '.join(IMAGE_SUFFIXES)}")
        return ImageFilesSource(images, spec, max_pixels=max_pixels)
    if path.is_dir():
        images = folder_images(path)
        if not images:
            raise TrtPanopticError(f"source folder should contain images, got '{spec}' (none found) — "
                                   f"images are {', '.join(IMAGE_SUFFIXES)}")
        return ImageFilesSource(images, spec, max_pixels=max_pixels)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFilesSource([path], spec, max_pixels=max_pixels)
        if not os.access(path, os.R_OK):
            raise TrtPanopticError(f"source should be readable, got '{spec}' (permission denied) — fix its permissions")
        return VideoFileSource(path, pace=pace_files, max_pixels=max_pixels)
    raise TrtPanopticError(
        f"source should be a video file, image folder/glob, camera index, /dev/videoN, URL or GStreamer pipeline, "
        f"got '{spec}' (no such file) — check the path"
    )
