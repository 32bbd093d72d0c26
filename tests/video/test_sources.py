"""Sources: what each --source string opens, and the one-line errors for the ones that cannot."""
from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.video.sources import ImageFilesSource, ReadStatus, VideoFileSource, has_gstreamer, open_source

from .conftest import index_of, synth_frame


def test_video_file_reads_every_frame_then_ends(clip: Path) -> None:
    source = open_source(str(clip))
    assert isinstance(source, VideoFileSource) and not source.is_live
    assert source.num_frames == 30 and source.fps == pytest.approx(25.0)
    codes = []
    while (read := source.read()).status is ReadStatus.FRAME:
        codes.append(index_of(read.image))
    assert read.status is ReadStatus.END and source.read().status is ReadStatus.END
    assert codes == list(range(30))


def test_glob_and_single_image(tmp_path: Path) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), synth_frame(i))
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(str(tmp_path / "img*.png"))
    assert isinstance(source, ImageFilesSource) and source.num_frames == 3
    assert [index_of(source.read().image) for _ in range(3)] == [0, 1, 2]
    assert source.read().status is ReadStatus.END
    assert open_source(str(tmp_path / "img1.png")).num_frames == 1


@pytest.mark.parametrize(
    "spec, words",
    [
        ("does/not/exist.mp4", ["no such file"]),
        ("frames_*.png", ["no images match"]),
        ("/dev/video97", ["V4L2"]),
        ("7", ["camera 7", "cannot open"]),
        ("rtsp://127.0.0.1:1/none", ["rtsp://127.0.0.1:1/none", "cannot open"]),
        ("", ["--source"]),
    ],
)
def test_bad_sources_are_one_line_errors(spec: str, words: list[str]) -> None:
    with pytest.raises(TrtPanopticError) as info:
        open_source(spec)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words)


def test_empty_folder_and_undecodable_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrtPanopticError, match="should contain images"):
        open_source(str(tmp_path / "empty"))
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + bytes(1000))
    with pytest.raises(TrtPanopticError, match="junk.avi"):
        open_source(str(junk))


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer; the error path is for builds without it")
def test_gstreamer_pipeline_without_gstreamer_names_the_fix() -> None:
    with pytest.raises(TrtPanopticError, match="GStreamer"):
        open_source("videotestsrc ! videoconvert ! appsink")


def test_http_url_of_a_file_is_read_once_not_looped(clip: Path) -> None:
    """A clip served over HTTP has a frame count: it is a file (every frame, then END), not a live stream."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(clip.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = open_source(f"http://127.0.0.1:{server.server_port}/{clip.name}")
        assert isinstance(source, VideoFileSource) and not source.is_live
        codes = []
        while (read := source.read()).status is ReadStatus.FRAME:
            codes.append(index_of(read.image))
        assert codes == list(range(30))
        source.close()
    finally:
        server.shutdown()


class ScriptedCapture:
    """Stands in for cv2.VideoCapture: 'ok' a good frame, 'fail' a failed read, 'gray' a malformed frame."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)

    def read(self):
        step = self.script.pop(0) if self.script else "fail"
        if step == "ok":
            return True, synth_frame(0)
        if step == "gray":
            return True, synth_frame(0)[..., 0]
        return False, None

    def release(self) -> None:
        pass


def test_failed_reads_followed_by_frames_are_corrupt_frames_not_the_end(clip: Path) -> None:
    source = VideoFileSource(clip, max_consecutive_failures=3)
    source._pending.clear()
    source._cap = ScriptedCapture(["ok", "fail", "gray", "ok", "fail", "fail", "fail", "ok", "fail"])
    statuses = [source.read().status for _ in range(8)]
    F, C, E = ReadStatus.FRAME, ReadStatus.CORRUPT, ReadStatus.END
    # 3 failures in a row are still corrupt frames (limit 3); the 4th failure in a row means the end
    assert statuses == [F, C, C, F, C, C, C, F] and source.read().status is E
    assert source.read().status is E


def test_image_folders_play_in_natural_order_and_bracket_names_are_files(tmp_path: Path, clip: Path) -> None:
    for i in (1, 2, 10, 11):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), synth_frame(i))
    source = open_source(str(tmp_path))
    assert [index_of(source.read().image) for _ in range(4)] == [1, 2, 10, 11]  # not 1, 10, 11, 2
    odd = tmp_path / "clip[1].mp4"
    odd.write_bytes(clip.read_bytes())
    assert isinstance(open_source(str(odd)), VideoFileSource)
