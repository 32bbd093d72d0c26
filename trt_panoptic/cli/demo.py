"""``trt-panoptic demo``: the one-command tour — synthetic clip → bundled model → annotated video + stats.

With no arguments it writes a short synthetic clip (moving shapes over sky/road/grass/wall), runs the
bundled model on the best available backend (``create_predictor("auto")``), and leaves in
``./trt_panoptic_demo/``: ``input.mp4`` (the clip), ``demo.mp4`` (annotated) and ``stats.json``. An
existing non-empty folder is never overwritten silently: the next free ``trt_panoptic_demo-N`` is used,
unless ``--force`` is given.

``--bag`` makes the loop a robot's: the clip is written as a ROS 2 bag (``input.mcap``), segmented from the
bag, and the results go into ``result.mcap`` (overlay, panoptic id map, segments, stats, with the camera
topic copied alongside) — open it in Foxglove, or ``ros2 bag info`` it.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from trt_panoptic.atomic_io import check_writable_dir
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

DEFAULT_DIR = "trt_panoptic_demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    from trt_panoptic.runtime.factory import BACKENDS

    p = subparsers.add_parser(
        "demo",
        help="segment a synthetic clip with the bundled model (no arguments needed)",
        description="Generate a synthetic clip, run the bundled Panoptic FPN on it and write the annotated "
                    "video and stats.",
    )
    p.add_argument("--out-dir", default=DEFAULT_DIR, help=f"where to write (default ./{DEFAULT_DIR}, or -2, -3 … "
                                                          "if it is not empty)")
    p.add_argument("--force", action="store_true", help="write into --out-dir even if it holds files")
    p.add_argument("--frames", type=int, default=45, help="clip length in frames (default 45 = 1.5 s at 30 FPS)")
    p.add_argument("--size", default="256x256", help="clip size HxW in pixels (default 256x256)")
    p.add_argument("--seed", type=int, default=7, help="scene seed of the synthetic clip (default 7)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="inference backend (default: auto = best available)")
    p.add_argument("--model", help="ONNX file or TensorRT engine instead of the bundled model")
    p.add_argument("--plugins", help="tensorrt: the plugin library to load (default: the one the engine's sidecar "
                                     "names, if it is this package's own build)")
    p.add_argument("--trust-sidecar-plugins", action="store_true",
                   help="tensorrt: load the library the engine's sidecar names wherever it is")
    p.add_argument("--weights", help="PyTorch checkpoint instead of the bundled model")
    p.add_argument("--device", default="cpu", help="device of the torch backends: cpu, cuda or cuda:N (default: cpu; with a GPU and a checkpoint, auto picks torch-cudagraph)")
    p.add_argument("--bag", action="store_true",
                   help="the robotics loop: clip as a ROS 2 bag in, result bag out (needs the robotics extra)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _is_empty_or_missing(folder: Path) -> bool:
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def choose_run_dir(base: str | os.PathLike, force: bool) -> Path:
    """``base`` when it is missing or empty (or ``force``), else the first missing-or-empty ``base-N``."""
    base = Path(base)
    if base.exists() and not base.is_dir():
        raise TrtPanopticError(f"--out-dir should be a folder, got the file '{base}' — choose another --out-dir")
    if force or _is_empty_or_missing(base):
        return base
    for n in range(2, 1000):
        candidate = base.with_name(f"{base.name}-{n}")
        if _is_empty_or_missing(candidate):
            logger.info("%s is not empty; writing to %s instead (--force reuses it)", base, candidate)
            return candidate
    raise TrtPanopticError(f"--out-dir should have a free run folder, got '{base}' with 998 siblings — "
                           "delete old demo runs or pass --force")


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise TrtPanopticError(f"--size should be HxW like 256x256, got '{text}' — e.g. --size 256x256") from None
    if not (32 <= h <= 4096 and 32 <= w <= 4096):
        raise TrtPanopticError(f"--size should be between 32 and 4096 per side, got '{text}' — e.g. --size 256x256")
    return h, w


def run(args: argparse.Namespace) -> int:
    # The data stage's generator; the clip has the bundled model's classes (things disc/box/triangle,
    # stuff sky/road/grass/wall), so the demo shows what the model was trained for.
    from trt_panoptic.cli.run import check_stats_path, execute, make_predictor
    from trt_panoptic.data.synthetic_video import write_synthetic_video
    from trt_panoptic.video.pipeline import PipelineConfig
    from trt_panoptic.video.sinks import VideoFileSink
    from trt_panoptic.video.sources import open_source

    if args.frames < 1:
        raise TrtPanopticError(f"--frames should be at least 1, got {args.frames} — e.g. --frames 60")
    size = _parse_size(args.size)
    if args.device != "cpu":  # a missing GPU fails before the run folder and the clip are written
        from trt_panoptic.runtime.torch_backend import torch_device

        torch_device(args.device)
    if args.bag:
        from trt_panoptic.ros2.extra import import_robotics

        import_robotics("mcap_ros2")  # a missing extra fails before the run folder is made
    run_dir = choose_run_dir(args.out_dir, args.force)
    check_writable_dir(run_dir, "--out-dir")
    clip, annotated = run_dir / ("input.mcap" if args.bag else "input.mp4"), run_dir / "demo.mp4"
    stats_path = check_stats_path(str(run_dir / "stats.json"))
    sink = VideoFileSink(annotated)  # checks the folder is writable before any work
    sinks = [sink]

    if args.bag:
        from trt_panoptic.ros2.synthetic_bag import write_synthetic_bag
        from trt_panoptic.video.bag_sink import BagSink

        write_synthetic_bag(clip, args.frames, size, seed=args.seed, fps=30.0, force=True, progress=False)
        source = open_source(str(clip))
        sinks.append(BagSink(run_dir / "result.mcap", passthrough=source.files))
    else:
        write_synthetic_video(clip, args.frames, size, seed=args.seed, fps=30.0, force=True, progress=False)
        source = open_source(str(clip))
    try:
        predictor = make_predictor(args.backend, model=args.model, weights=args.weights, device=args.device,
                                   plugins=args.plugins, trust_sidecar_plugins=args.trust_sidecar_plugins)
    except BaseException:
        source.close()
        raise
    stats = execute(source, predictor, sinks, PipelineConfig(mode="lossless"), stats_path=stats_path,
                    progress=not args.no_progress)

    infer = stats.stages["infer"]
    print(f"trt-panoptic demo: {stats.frames_written} frames {size[0]}x{size[1]} on the "
          f"{stats.backend} backend")
    print(f"  measured: {stats.throughput_fps:.1f} FPS end-to-end (decode+infer+render+encode), "
          f"model {infer.percentile_ms(50):.1f} ms/frame p50 = {1e3 / max(infer.percentile_ms(50), 1e-9):.1f} FPS")
    print(f"  annotated video: {annotated.resolve()}")
    print(f"  stats:           {stats_path.resolve()}")
    print(f"  input {'bag: ' if args.bag else 'clip:'}     {clip.resolve()}")
    if args.bag:
        from trt_panoptic.ros2.bags import read_summary, topics

        result = run_dir / "result.mcap"
        print(f"  result bag:      {result.resolve()}")
        for info in sorted(topics(read_summary(result)), key=lambda t: t.topic):
            print(f"    {info.topic:<32} {info.schema:<36} {info.count}")
        print("  open result.mcap in Foxglove (layout: docs/foxglove_layout.json), or ros2 bag info it")
        print(f"next: trt-panoptic run --source {clip} --output foxglove --realtime   (live, ws://localhost:8765)")
        return 0
    print(f"next: trt-panoptic run --source {clip} --output out.mp4 --stats stats.json")
    return 0
