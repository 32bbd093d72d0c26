"""``trt-panoptic run`` with several ``--source``: stream names, each stream's outputs, the multi-stream run.

Outputs are per stream: ``{stream}`` in a path becomes the stream's name (``--source-name``) or index. Outputs
that hold every stream in one place need no ``{stream}``: ``window`` (a grid), ``foxglove`` (one server) and a
``.mcap`` bag (one file), the last two with a topic set per stream; ``none`` discards every stream's frames.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
from pathlib import Path

from trt_panoptic.errors import PartialRunError, TrtPanopticError

logger = logging.getLogger(__name__)

#: the placeholder an output path uses for the stream's name or index
STREAM = "{stream}"
# a name is used in file names and as a ROS 2 / Foxglove topic namespace: both accept these
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def stream_names(sources: list[str], names: list[str] | None) -> list[str]:
    """The name of each source: ``--source-name`` in order, or the index ("0", "1", …) when none is given."""
    if not names:
        return [str(i) for i in range(len(sources))]
    if len(names) != len(sources):
        raise TrtPanopticError(f"--source-name should be given once per --source ({len(sources)}), got {len(names)} "
                               "— name every source, in the same order, or none")
    for name in names:
        if not _NAME.match(name):
            raise TrtPanopticError(f"--source-name should be letters, digits and _ starting with a letter, got "
                                   f"'{name}' — e.g. front_left")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise TrtPanopticError(f"--source-name should be different for every source, got '{dup}' twice — rename one")
    return list(names)


def expand_stream(output: str, name: str) -> str:
    """``output`` with ``{stream}`` replaced by the stream's name."""
    return output.replace(STREAM, name)


def topic_namespace(name: str) -> str:
    """The topic namespace of stream ``name``: the name itself, or ``stream<i>`` for an index (ROS 2 names
    cannot start with a digit)."""
    return name if name[:1].isalpha() else f"stream{name}"


def _shared_kind(spec: str) -> str | None:
    """Which output holds every stream without ``{stream}``: "none", "window", "foxglove", "mcap", or None."""
    low = spec.strip().lower()
    if low == "none":
        return "none"
    if low in ("window", "show"):
        return "window"
    if low == "foxglove" or low.startswith("foxglove:"):
        return "foxglove"
    if low.endswith(".mcap"):
        return "mcap"
    return None


def check_stream_outputs(outputs: list[str]) -> None:
    """One-line errors for outputs several streams cannot share (a file or folder without ``{stream}``)."""
    for spec in outputs:
        if STREAM in spec or _shared_kind(spec) is not None:
            continue
        path = Path(spec.rstrip("/" + os.sep))
        example = f"{path.stem}_{STREAM}{path.suffix}" if path.suffix else f"{path.name}_{STREAM}/"
        raise TrtPanopticError(f"--output should contain {STREAM} with several sources (one output per stream), got "
                               f"'{spec}' — e.g. {path.with_name(example) if str(path.parent) != '.' else example}")


def open_stream_sinks(outputs: list[str], names: list[str], args: argparse.Namespace):
    """(each stream's sinks, the shared sinks the pipeline pumps and closes itself); sinks opened so far are
    closed when one fails to open."""
    from trt_panoptic.video.bag_sink import BagSink
    from trt_panoptic.video.foxglove_sink import FoxgloveSink, parse_foxglove_spec
    from trt_panoptic.video.sinks import NullSink, WindowSink, open_sink
    from trt_panoptic.video.tiles import Mosaic

    per_stream: list[list] = [[] for _ in names]
    shared: list = []
    namespaces = [topic_namespace(n) for n in names]
    try:
        for spec in outputs:
            kind = None if STREAM in spec else _shared_kind(spec)
            if kind is None:
                opened = [open_sink(expand_stream(spec, n), fps=args.fps, codec=args.codec) for n in names]
            elif kind == "none":
                opened = [NullSink() for _ in names]
            elif kind == "window":
                mosaic = Mosaic(WindowSink(), len(names))
                shared.append(mosaic)
                opened = [mosaic.tile(i) for i in range(len(names))]
            elif kind == "foxglove":
                host, port = parse_foxglove_spec(spec.strip())
                opened = FoxgloveSink.for_streams(host, port, namespaces)
            else:
                opened = BagSink.for_streams(Path(spec.strip()).expanduser(), namespaces)
            for sinks, sink in zip(per_stream, opened):
                sinks.append(sink)
    except BaseException:
        close_all([s for sinks in per_stream for s in sinks] + shared)
        raise
    return per_stream, shared


def close_all(sinks_or_sources: list) -> None:
    """Close everything opened for a run that did not start (a listening server must not outlive it)."""
    for item in sinks_or_sources:
        try:
            item.close()
        except Exception as exc:  # noqa: BLE001 — the error that stopped the start is the one to report
            logger.debug("closing %s after a failed start: %s", getattr(item, "description", item), exc)


def _check_stream_options(args: argparse.Namespace, outputs: list[str]) -> None:
    n = len(args.source)
    if args.passthrough:
        raise TrtPanopticError(f"--passthrough should come with one --source, got {n} — drop --passthrough")
    if args.topic is not None:
        raise TrtPanopticError(f"--topic should come with one --source, got {n} — with several, each bag's only "
                               "image topic is read; drop --topic")
    if args.batch_timeout < 0:
        raise TrtPanopticError(f"--batch-timeout should be >= 0 ms, got {args.batch_timeout} — e.g. --batch-timeout 10")
    check_stream_outputs(outputs)


def run_streams(args: argparse.Namespace, names: list[str], outputs: list[str], stats_path: Path | None) -> int:
    """``run`` over several sources sharing one model; returns the exit code (see ``run``)."""
    from trt_panoptic.cli.run import _pipeline_config, _predictor, _print_outputs, _stopped_exit_code, stop_on_signals
    from trt_panoptic.video.multistream import MultiStreamConfig, MultiStreamPipeline, Stream
    from trt_panoptic.video.sources import open_source

    _check_stream_options(args, outputs)
    sources, per_stream, shared = [], [[] for _ in names], []
    try:
        for spec in args.source:
            sources.append(open_source(spec, pace_files=args.mode == "realtime", max_pixels=args.max_pixels))
        per_stream, shared = open_stream_sinks(outputs, names, args)
        predictor = _predictor(args)
    except BaseException:
        close_all(sources + [s for sinks in per_stream for s in sinks] + shared)
        raise
    streams = [Stream(src, sinks, name) for src, sinks, name in zip(sources, per_stream, names)]
    # each stream hands the collector one frame at a time; --inflight applies to the frames of a batch
    config = MultiStreamConfig(stream=dataclasses.replace(_pipeline_config(args), inflight=1),
                               batch_timeout_s=args.batch_timeout / 1e3, inflight=args.inflight)
    try:
        pipeline = MultiStreamPipeline(streams, predictor, config, shared=shared)
    except BaseException:
        close_all(sources + [s for sinks in per_stream for s in sinks] + shared)
        raise
    logger.info("running %s backend on %d streams (%s), batches of up to %d frames", predictor.backend, len(streams),
                ", ".join(f"{n}: {s.description}" for n, s in zip(names, sources)), pipeline.collector.stats.batch_size)
    with stop_on_signals(pipeline):
        stats = pipeline.run(progress=not args.no_progress)
    if stats_path is not None:
        stats.write_json(stats_path)
    print(stats.summary_line())
    for line in stats.stream_lines():
        print(line)
    seen: set[str] = set()
    for sinks in per_stream:  # a bag or server shared by the streams is listed once
        _print_outputs([s for s in sinks if not (s.description in seen or seen.add(s.description))])
    if stats_path is not None:
        print(f"stats: {os.path.abspath(stats_path)}")
    if (code := _stopped_exit_code(stats.stopped_by)) is not None:
        return code
    if failed := stats.failed:
        first = failed[0]
        raise PartialRunError(f"every stream should run to its end, got {len(failed)} of {len(streams)} failed "
                              f"(stream {first.name}: {first.error}) — the other streams' outputs are complete; "
                              "check that source")
    if stats.frames_processed == 0:
        raise TrtPanopticError("the sources should give decodable frames, got none — check the files or cameras")
    return 0
