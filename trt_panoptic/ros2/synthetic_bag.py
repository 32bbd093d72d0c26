"""A small ROS 2 bag of the synthetic video, for tests, benchmarks and ``trt-panoptic demo --bag``.

Each frame of :func:`~trt_panoptic.data.synthetic_video.render_video_frames` becomes one message per
camera topic, ``sensor_msgs/msg/CompressedImage`` (jpeg, png) or ``sensor_msgs/msg/Image`` (rgb8, bgr8,
mono8, bayer_*8). Header stamps advance by 1/fps from ``start_ns``; each message is logged
``LOG_DELAY_NS`` after its stamp, as a recorder receives a camera's frames a little after exposure.
"""
from __future__ import annotations

from pathlib import Path

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.ros2 import images, messages
from trt_panoptic.ros2.bags import BAG_SUFFIX, BagWriter

COMPRESSED_ENCODINGS = ("jpeg", "png")
RAW_ENCODINGS = ("rgb8", "bgr8", "mono8", "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8")
ENCODINGS = COMPRESSED_ENCODINGS + RAW_ENCODINGS
DEFAULT_START_NS = 1_767_225_600_000_000_000  # 2026-01-01 00:00:00 UTC
LOG_DELAY_NS = 2_000_000
FRAME_ID = "camera_optical_frame"


def default_topic(encoding: str) -> str:
    """image_transport's names: ``/camera/image_raw`` and, compressed, ``/camera/image_raw/compressed``."""
    return "/camera/image_raw/compressed" if encoding in COMPRESSED_ENCODINGS else "/camera/image_raw"


def write_synthetic_bag(
    out: str | Path,
    num_frames: int,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    fps: float = 30.0,
    *,
    cameras: list[tuple[str, str]] | None = None,
    start_ns: int = DEFAULT_START_NS,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write a ``.mcap`` with ``num_frames`` frames on each of ``cameras`` = [(topic, encoding)] (default: one
    jpeg topic), atomically (temp file, then rename).

    Raises:
        TrtPanopticError: a suffix other than .mcap, ``num_frames`` < 1, fps <= 0, an unknown encoding, or an
            existing file without ``force``.
    """
    from tqdm import tqdm

    from trt_panoptic.data.synthetic_video import render_video_frames

    out = Path(out)
    cameras = cameras or [(default_topic("jpeg"), "jpeg")]
    if out.suffix.lower() != BAG_SUFFIX:
        raise TrtPanopticError(f"--out should end in .mcap, got {out.name!r} — e.g. --out camera.mcap")
    if num_frames < 1:
        raise TrtPanopticError(f"--frames should be at least 1, got {num_frames} — ask for some frames")
    if not fps > 0:
        raise TrtPanopticError(f"--fps should be positive, got {fps} — e.g. --fps 30")
    for _, encoding in cameras:
        if encoding not in ENCODINGS:
            raise TrtPanopticError(f"--encoding should be one of {', '.join(ENCODINGS)}, got '{encoding}'")
    if out.exists() and not force:
        raise TrtPanopticError(f"--out {out} already exists — pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = BagWriter(out, library="trt_panoptic synth-bag")
    try:
        channels = []
        for topic, encoding in cameras:
            kind = messages.COMPRESSED_IMAGE if encoding in COMPRESSED_ENCODINGS else messages.IMAGE
            channels.append((writer.ros2_channel(topic, kind), messages.encoder(kind), encoding))
        frames = render_video_frames(num_frames, size, seed)
        for i, (frame, _, _) in enumerate(tqdm(frames, total=num_frames, desc="synth-bag", unit="frame",
                                               disable=not progress)):
            stamp = start_ns + round(i * 1e9 / fps)
            header = messages.stamp_fields(stamp, FRAME_ID)
            for channel, encode, encoding in channels:
                fields = (images.bgr_to_compressed(frame, encoding) if encoding in COMPRESSED_ENCODINGS
                          else images.bgr_to_raw(frame, encoding))
                writer.add(channel, encode({"header": header, **fields}), stamp + LOG_DELAY_NS)
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return out
