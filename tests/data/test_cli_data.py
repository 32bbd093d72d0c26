"""``trt-panoptic data``: synth, synth-video and check from the command line; bad input exits 2 in one line."""
from __future__ import annotations

import json
import shutil

from trt_panoptic.cli.main import main



def last_line(text: str) -> str:
    """The CLI's error line (a progress bar may precede it on stderr)."""
    return text.strip().splitlines()[-1]


def test_synth_then_check(tmp_path, capsys):
    out = tmp_path / "val"
    assert main(["data", "synth", "--out", str(out), "--num-images", "3", "--seed", "7", "--size", "64x96"]) == 0
    assert json.loads((out / "panoptic.json").read_text())["images"][0]["width"] == 96
    assert main(["data", "check", "--data", str(out), "--config", "r18_fpn_tiny"]) == 0
    assert "3 images" in capsys.readouterr().out
    # a second run into the same folder is refused without --force
    assert main(["data", "synth", "--out", str(out), "--num-images", "3"]) == 2
    err = capsys.readouterr().err
    assert "--force" in last_line(err) and "Traceback" not in err


def test_synth_video(tmp_path):
    assert main(["data", "synth-video", "--out", str(tmp_path / "c.avi"), "--frames", "4", "--size", "64x64", "--fps", "15"]) == 0
    assert (tmp_path / "c.avi").stat().st_size > 0


def test_check_names_the_bad_file_and_exits_2(tmp_path, capsys, coco_sample):
    root = tmp_path / "ds"
    shutil.copytree(coco_sample, root)
    (root / "images" / "000000439180.jpg").write_bytes(b"garbage")
    assert main(["data", "check", "--data", str(root)]) == 2
    err = capsys.readouterr().err
    assert "000000439180.jpg" in last_line(err) and last_line(err).startswith("trt-panoptic data: error:")
    assert "Traceback" not in err
    data = json.loads((root / "panoptic.json").read_text())
    data["annotations"] = []
    (root / "panoptic.json").write_text(json.dumps(data))
    assert main(["data", "check", "--data", str(root)]) == 2
    assert "empty dataset" in capsys.readouterr().err
