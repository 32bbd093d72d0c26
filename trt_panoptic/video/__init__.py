"""Streaming video: sources → Predictor → panoptic overlay → sinks, with stats.

Only the CLI imports this package (docs/ARCHITECTURE.md). OpenCV is imported inside the functions that use it.
"""
from trt_panoptic.video.pipeline import Channel, Pipeline, PipelineConfig, ReconnectPolicy
from trt_panoptic.video.render import PanopticRenderer
from trt_panoptic.video.sinks import FrameSink, StreamInfo, open_sink
from trt_panoptic.video.sources import FrameSource, Read, ReadStatus, open_source
from trt_panoptic.video.stats import LatencyRecorder, PipelineStats

__all__ = [
    "Channel",
    "FrameSink",
    "FrameSource",
    "LatencyRecorder",
    "PanopticRenderer",
    "Pipeline",
    "PipelineConfig",
    "PipelineStats",
    "Read",
    "ReadStatus",
    "ReconnectPolicy",
    "StreamInfo",
    "open_sink",
    "open_source",
]
