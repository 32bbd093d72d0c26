"""The live Foxglove view: ``run --output foxglove:PORT`` serves the Foxglove WebSocket protocol; a real client
(``websockets``) subscribes to every channel, receives frames, decodes them, and SIGINT ends the run cleanly."""
from __future__ import annotations

import asyncio
import base64
import json
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("foxglove", reason="needs the robotics extra: pip install -e '.[robotics]'")
websockets = pytest.importorskip("websockets")

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402

from trt_panoptic.errors import TrtPanopticError  # noqa: E402
from trt_panoptic.ros2.synthetic_bag import write_synthetic_bag  # noqa: E402
from trt_panoptic.video.segment_table import SEGMENTS_JSON_SCHEMA  # noqa: E402

from .test_cli_run import FAKE_CLI, _env  # noqa: E402

SIZE = (48, 64)
TOPICS = {"/trt_panoptic/image", "/trt_panoptic/overlay", "/trt_panoptic/annotations", "/trt_panoptic/segments",
          "/trt_panoptic/stats"}
WANTED = 3  # messages per channel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _protobuf_class(channel: dict):
    """The message class of a protobuf channel, built from the FileDescriptorSet the server advertised."""
    files = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
    pool = descriptor_pool.DescriptorPool()
    for fd in files.file:
        pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))


async def _watch(port: int, deadline: float) -> tuple[dict[str, dict], dict[str, list[bytes]]]:
    """Connect (retrying until the server is up), subscribe to every channel, collect WANTED messages of each."""
    while True:
        try:
            # offer both names of the protocol (ws-protocol spec and SDK); this SDK version answers foxglove.sdk.v1
            ws = await websockets.connect(f"ws://127.0.0.1:{port}",
                                          subprotocols=["foxglove.sdk.v1", "foxglove.websocket.v1"])
            break
        except OSError:
            assert time.monotonic() < deadline, "the Foxglove server did not come up"
            await asyncio.sleep(0.2)
    async with ws:
        assert ws.subprotocol in ("foxglove.sdk.v1", "foxglove.websocket.v1")
        channels: dict[int, dict] = {}
        while {c["topic"] for c in channels.values()} != TOPICS:
            message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            if message["op"] == "advertise":
                channels.update({c["id"]: c for c in message["channels"]})
        subs = {i: c for i, c in enumerate(channels.values())}
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": i, "channelId": c["id"]} for i, c in subs.items()]}))
        got: dict[str, list[bytes]] = {c["topic"]: [] for c in channels.values()}
        while min(len(v) for v in got.values()) < WANTED:
            data = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            if isinstance(data, bytes) and data[0] == 0x01:  # message data: opcode, subscription id, log time
                sub_id, _log_time = struct.unpack_from("<IQ", data, 1)
                got[subs[sub_id]["topic"]].append(data[13:])
    return {c["topic"]: c for c in channels.values()}, got


def test_live_view_serves_every_channel_and_stops_on_sigint(tmp_path: Path) -> None:
    bag = write_synthetic_bag(tmp_path / "cam.mcap", 150, SIZE, seed=6, progress=False)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(FAKE_CLI), "run", "--source", str(bag), "--output", f"foxglove:{port}",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(FAKE_DELAY_S="0.05"))  # 150 frames x 50 ms: still running when signalled
    try:
        channels, got = asyncio.run(_watch(port, time.monotonic() + 60))
        assert proc.poll() is None, "the run ended before the client had its messages"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped by SIGINT" in stdout

    assert channels["/trt_panoptic/overlay"]["schemaName"] == "foxglove.CompressedImage"
    assert channels["/trt_panoptic/annotations"]["schemaName"] == "foxglove.ImageAnnotations"
    image_cls = _protobuf_class(channels["/trt_panoptic/overlay"])
    for topic in ("/trt_panoptic/image", "/trt_panoptic/overlay"):
        msg = image_cls.FromString(got[topic][0])
        assert msg.format == "jpeg" and msg.frame_id == "camera_optical_frame"
        assert cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR).shape == (*SIZE, 3)
    annotations = _protobuf_class(channels["/trt_panoptic/annotations"]).FromString(got["/trt_panoptic/annotations"][0])
    assert len(annotations.points) >= 2  # the fake predictor's sky and road, at least
    for outline in annotations.points:
        xs = [p.x for p in outline.points]
        ys = [p.y for p in outline.points]
        assert len(xs) >= 3 and 0 <= min(xs) and max(xs) < SIZE[1] and 0 <= min(ys) and max(ys) < SIZE[0]

    assert channels["/trt_panoptic/segments"]["encoding"] == "json"
    assert json.loads(channels["/trt_panoptic/segments"]["schema"]) == SEGMENTS_JSON_SCHEMA
    required = SEGMENTS_JSON_SCHEMA["properties"]["segments"]["items"]["required"]
    for payload in got["/trt_panoptic/segments"]:
        segments = json.loads(payload)
        assert segments["frame_id"] == "camera_optical_frame" and segments["segments"]
        for seg in segments["segments"]:
            assert set(required) <= seg.keys()
            assert (seg["score"] is None) == (not seg["isthing"])
            assert seg["area"] <= (seg["x1"] - seg["x0"]) * (seg["y1"] - seg["y0"])
    indices = [json.loads(p)["frame_index"] for p in got["/trt_panoptic/stats"]]
    assert indices == sorted(indices) and json.loads(got["/trt_panoptic/stats"][0])["backend"] == "fake"


def test_busy_port_is_one_line_error() -> None:
    from trt_panoptic.video.sinks import open_sink

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(TrtPanopticError, match="free port") as err:
            open_sink(f"foxglove:{s.getsockname()[1]}")
    assert "\n" not in str(err.value)
    with pytest.raises(TrtPanopticError, match="foxglove:PORT"):
        open_sink("foxglove:notaport")


def test_a_folder_named_foxglove_is_still_an_image_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trt_panoptic.video.sinks import ImageFolderSink, open_sink

    monkeypatch.chdir(tmp_path)
    assert isinstance(open_sink("foxglove_frames/"), ImageFolderSink)
