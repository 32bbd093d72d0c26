"""``trt-panoptic run``: segment a video file, camera, stream or image folder and write the annotated result.

Examples::

    trt-panoptic run --source clip.mp4 --output out.mp4 --stats stats.json
    trt-panoptic run --source 0 --output window --backend tensorrt --model model.engine
    trt-panoptic run --source rtsp://cam/stream --output none --max-frames 300 --stats live.json
    trt-panoptic run --source 'frames/*.png' --output coco:pred/ --output overlays/
    trt-panoptic run --source recording.mcap --topic /camera/image_raw --output results.mcap --passthrough
    trt-panoptic run --source recording.mcap --output foxglove --realtime
    trt-panoptic run --source left.mp4 --source right.mp4 --source frames/ --output out_{stream}.mp4 --stats s.json
    trt-panoptic run --source 0 --source rtsp://cam/stream --source-name front --source-name gate --output window

Several sources share one model: frames are batched across the streams (:mod:`trt_panoptic.video.multistream`)
and each stream gets its own outputs (``{stream}`` in an output path) and its own stats.

Everything the user can get wrong (missing source, unwritable output or stats path) is checked before the
model is loaded. Ctrl-C or SIGTERM ends the run cleanly: the frame in flight is finished, the outputs
are closed and renamed into place, stats are written, and the exit code is 0; a second Ctrl-C aborts.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Iterator

from trt_panoptic.data.frames import DEFAULT_MAX_PIXELS
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    from trt_panoptic.runtime.factory import BACKENDS

    p = subparsers.add_parser(
        "run",
        help="segment a video, camera, stream or image folder",
        description="Run a Panoptic FPN over a video source and write the annotated frames and stats.",
    )
    p.add_argument("--source", required=True, action="append",
                   help="video file, ROS 2 bag (.mcap or a rosbag2 folder), image folder or glob, camera index (0), "
                        "/dev/videoN, rtsp/http URL, or GStreamer pipeline ending in appsink; repeat for several "
                        "streams sharing one model (frames batched across them)")
    p.add_argument("--source-name", action="append", metavar="NAME",
                   help="a name per --source, in the same order (letters, digits, _), used for {stream} in outputs, "
                        "topic namespaces and stats (default: the stream's index 0, 1, …)")
    p.add_argument("--batch-timeout", type=float, default=10.0, metavar="MS",
                   help="several sources: how long a batch waits after its first frame for the other streams' "
                        "frames (default 10 ms)")
    p.add_argument("--topic", help="bag sources: the image topic to read (default: the bag's only image topic)")
    p.add_argument("--output", action="append", metavar="OUT",
                   help="out.mp4|.avi|.mkv (video), results.mcap (ROS 2 bag), foxglove[:PORT] (live Foxglove view, "
                        "port 8765 by default), DIR/ (images), coco:DIR (COCO panoptic PNG+JSON), window, "
                        "or none; repeat for several (default: none). With several sources, files and folders "
                        "need {stream} (out_{stream}.mp4); window tiles the streams, a .mcap and foxglove get "
                        "a topic set per stream")
    p.add_argument("--passthrough", action="store_true",
                   help="bag source and .mcap output: copy every message of the input bag into the result bag")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default: auto = best available)")
    p.add_argument("--model", help="ONNX file or TensorRT engine (default: the bundled model)")
    p.add_argument("--plugins", help="tensorrt: the plugin library to load (default: the one the engine's sidecar "
                                     "names, if it is this package's own build)")
    p.add_argument("--trust-sidecar-plugins", action="store_true",
                   help="tensorrt: load the library the engine's sidecar names wherever it is")
    p.add_argument("--weights", help="PyTorch checkpoint for the torch backend (with --config)")
    p.add_argument("--config", help="config name or YAML for --weights")
    p.add_argument("--device", default="cpu", help="device of the torch backends: cpu, cuda or cuda:N (default: cpu; with a GPU and a checkpoint, auto picks torch-cudagraph)")
    p.add_argument("--height", type=int, help="model input height in pixels (default: the model's)")
    p.add_argument("--width", type=int, help="model input width in pixels (default: the model's)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N processed frames (per stream)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse frames larger than N pixels: pictures are skipped, a video is an error "
                        f"(default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--stats", metavar="FILE", help="write latency/throughput/drop statistics as JSON")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--realtime", dest="mode", action="store_const", const="realtime",
                      help="keep only the newest frame (default for cameras/streams); files play at their own FPS")
    mode.add_argument("--lossless", dest="mode", action="store_const", const="lossless",
                      help="process every frame in order (default for files and folders)")
    p.add_argument("--queue-size", type=int, default=4, metavar="N", help="frames buffered between stages (default 4)")
    p.add_argument("--inflight", type=int, default=1, metavar="N",
                   help="frames inferred at once, for backends safe to call from several threads (default 1); "
                        "with several sources, frames of one batch")
    p.add_argument("--threads", type=int, metavar="N",
                   help="onnxruntime: intra-op threads per inference (default: ONNX Runtime's, one per core); with "
                        "several sources on a 2-core CPU, --threads 1 --inflight 2 measured fastest "
                        "(benchmarks/results/multistream_*.md)")
    p.add_argument("--codec", help="FourCC for video outputs (default: H.264 if available, else mp4v/MJPG)")
    p.add_argument("--fps", type=float, help="frame rate of video outputs when the source has none (default 30)")
    p.add_argument("--no-hud", action="store_true", help="do not draw FPS/latency on frames")
    p.add_argument("--reconnect-attempts", type=int, default=10, metavar="N",
                   help="reopen a lost live source up to N times in a row (default 10; 0 = never)")
    p.add_argument("--reconnect-max-delay", type=float, default=8.0, metavar="S",
                   help="longest wait between reconnect attempts in seconds (default 8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, mode="auto")


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise TrtPanopticError(f"{name} should be {'>= 0' if allow_zero else 'positive'}, got {value} — pass a larger value")


def check_stats_path(path: str | None) -> Path | None:
    """Fail early (one line) unless a stats JSON can be written at ``path``."""
    if not path:
        return None
    from trt_panoptic.atomic_io import check_writable_dir

    target = Path(path).expanduser()
    if target.is_dir():
        raise TrtPanopticError(f"--stats should be a file path, got the folder '{path}' — add a file name like stats.json")
    check_writable_dir(target.parent, "--stats")
    return target


def _check_not_in_bag_folder(output: str, source: str) -> None:
    """Refuse a .mcap output inside a rosbag2 folder source: the next read of that bag would include it."""
    out, folder = Path(output).expanduser(), Path(source).expanduser()
    if out.suffix.lower() == ".mcap" and folder.is_dir() and out.resolve().parent == folder.resolve():
        raise TrtPanopticError(f"--output {output} should not go into the source bag folder {source} — it would become "
                               "part of that bag; write it beside the folder")


def make_predictor(backend: str = "auto", **kwargs):
    """The Predictor from :func:`trt_panoptic.runtime.create_predictor` (imported here: it may load torch/ORT/TRT)."""
    try:
        from trt_panoptic.runtime import create_predictor
    except ImportError:
        raise TrtPanopticError(
            "the runtime should provide create_predictor, got a trt_panoptic without it — reinstall trt_panoptic"
        ) from None
    return create_predictor(backend, **kwargs)


#: How a run stopped by a second signal is marked in its stats (``stopped_by``: ``signal:SIGINT:forced``).
FORCED = "forced"


@contextlib.contextmanager
def stop_on_signals(pipeline) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM ask ``pipeline`` to stop after the frames in flight; a second one stops it at
    once. Neither raises: an exception thrown into the main thread while it closes the outputs would leave
    them half-written and native threads running at exit (the process then aborts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            logger.warning("%s: finishing the frames in flight and closing the outputs (repeat to stop at once)", name)
            pipeline.stop(f"signal:{name}")
        elif len(received) == 2:
            logger.warning("%s again: stopping now; closing the outputs with the frames written so far (a third "
                           "signal exits at once, without closing them)", name)
            pipeline.stop_now(f"signal:{name}:{FORCED}")
        else:  # a stage stuck in native code ignores flags: the user's third request ends the process
            os._exit(130)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def execute(source, predictor, sinks, config, *, stats_path: Path | None, progress: bool):
    """Run the pipeline under signal handling and write the stats; returns the :class:`PipelineStats`."""
    from trt_panoptic.video.pipeline import Pipeline

    pipeline = Pipeline(source, predictor, sinks, config)
    with stop_on_signals(pipeline):
        stats = pipeline.run(progress=progress)
    if stats_path is not None:
        stats.write_json(stats_path)
    return stats


def _print_bag(sink) -> None:
    """The result bag's topics, types and message counts, as the mcap reader's summary gives them."""
    if not sink.bag_frames:
        print(f"bag: none written to {sink.path} (no frame could be processed)")
        return
    from trt_panoptic.ros2.bags import read_summary, topics

    print(f"bag: {os.path.abspath(sink.path)} ({sink.bag_frames} frames" +
          (f", {sink.copied} input messages copied)" if sink.copied else ")"))
    for info in sorted(topics(read_summary(sink.path)), key=lambda t: t.topic):
        print(f"  {info.topic:<32} {info.schema:<36} {info.count}")


def _print_outputs(sinks) -> None:
    from trt_panoptic.video.sinks import VideoFileSink

    for sink in sinks:
        if sink.description.lower().endswith(".mcap"):
            _print_bag(sink)
        elif isinstance(sink, VideoFileSink):
            if sink.frames == 0:
                print(f"video: none written to {sink.path} (no frame could be processed)")
            else:
                print(f"video: {os.path.abspath(sink.path)} ({sink.frames} frames, {sink.codec})")
        elif sink.description not in ("none", "window"):
            print(f"output: {sink.description}")


def _check_threads(args: argparse.Namespace) -> None:
    """``--threads`` sets ONNX Runtime's intra-op threads: refuse it where another backend will run."""
    engine = (args.model or "").lower().endswith((".engine", ".plan"))
    if args.threads is not None and (args.backend in ("torch", "tensorrt") or engine or args.device != "cpu"):
        raise TrtPanopticError("--threads should go with the onnxruntime backend (a .onnx or a checkpoint on the CPU), "
                               "got another backend — drop --threads")


def _predictor(args: argparse.Namespace):
    options = {"threads": args.threads} if args.threads is not None else {}
    return make_predictor(
        args.backend, model=args.model, weights=args.weights, config=args.config,
        height=args.height, width=args.width, device=args.device, plugins=args.plugins,
        trust_sidecar_plugins=args.trust_sidecar_plugins, **options,
    )


def _pipeline_config(args: argparse.Namespace):
    from trt_panoptic.video.pipeline import PipelineConfig, ReconnectPolicy

    return PipelineConfig(
        mode=args.mode,
        queue_size=args.queue_size,
        max_frames=args.max_frames,
        hud=not args.no_hud,
        inflight=args.inflight,
        reconnect=ReconnectPolicy(max_delay_s=args.reconnect_max_delay, max_attempts=args.reconnect_attempts),
    )


def _stopped_exit_code(stopped_by: str) -> int | None:
    """The exit code of a run a signal stopped (0, or 130 when forced), None when no signal did."""
    if not stopped_by.startswith("signal"):
        return None
    print(f"stopped by {stopped_by.split(':')[1]}; outputs are complete up to the last frame written")
    return 130 if stopped_by.endswith(FORCED) else 0


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.cli._streams import expand_stream, run_streams, stream_names
    from trt_panoptic.runtime.factory import check_input_size
    from trt_panoptic.runtime.predictor import input_size
    from trt_panoptic.video.sinks import open_sink
    from trt_panoptic.video.sources import open_source

    check_input_size(args.height, args.width)
    _positive("--max-frames", args.max_frames)
    _positive("--queue-size", args.queue_size)
    _positive("--inflight", args.inflight)
    _positive("--threads", args.threads)
    _check_threads(args)
    _positive("--fps", args.fps)
    _positive("--max-pixels", args.max_pixels)
    _positive("--reconnect-attempts", args.reconnect_attempts, allow_zero=True)
    _positive("--reconnect-max-delay", args.reconnect_max_delay)
    if args.codec is not None and len(args.codec) != 4:
        raise TrtPanopticError(f"--codec should be a 4-character FourCC such as mp4v or MJPG, got {args.codec!r}")
    stats_path = check_stats_path(args.stats)
    names = stream_names(args.source, args.source_name)
    outputs = args.output or ["none"]
    for out in (expand_stream(o, name) for o in outputs for name in names):
        for spec in args.source:
            if os.path.exists(spec) and Path(out).expanduser().resolve() == Path(spec).resolve():
                raise TrtPanopticError(f"--output should differ from --source, got '{out}' for both — "
                                       "write the result to another file")
            _check_not_in_bag_folder(out, spec)
    if args.passthrough and not any(o.strip().lower().endswith(".mcap") for o in outputs):
        raise TrtPanopticError("--passthrough should come with a .mcap --output, got none — add --output results.mcap")
    if len(args.source) > 1:
        return run_streams(args, names, outputs, stats_path)
    outputs = [expand_stream(o, names[0]) for o in outputs]
    source = open_source(args.source[0], pace_files=args.mode == "realtime", topic=args.topic,
                         max_pixels=args.max_pixels)
    sinks = []
    try:
        passthrough = None
        if args.passthrough:
            passthrough = getattr(source, "files", None)
            if passthrough is None:
                raise TrtPanopticError(f"--passthrough should come with a ROS 2 bag source, got '{args.source[0]}' — "
                                       "drop --passthrough")
        for o in outputs:
            sinks.append(open_sink(o, fps=args.fps, codec=args.codec, passthrough=passthrough))
        predictor = _predictor(args)
    except BaseException:
        source.close()
        for sink in sinks:  # a live server already listening must not outlive the failed start
            sink.close()
        raise
    config = _pipeline_config(args)
    logger.info("running %s backend (input %s) on %s (%s)", predictor.backend, input_size(predictor),
                source.description, "realtime" if config.mode == "realtime" or (config.mode == "auto" and source.is_live) else "lossless")
    stats = execute(source, predictor, sinks, config, stats_path=stats_path, progress=not args.no_progress)
    print(stats.summary_line())
    _print_outputs(sinks)
    if stats_path is not None:
        print(f"stats: {os.path.abspath(stats_path)}")
    if (code := _stopped_exit_code(stats.stopped_by)) is not None:
        return code
    if stats.frames_processed == 0:
        raise TrtPanopticError(f"source {args.source[0]} should give decodable frames, got none — check the file or camera")
    return 0
