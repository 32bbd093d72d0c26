"""atomic_io: files appear whole or not at all; an unwritable path is a one-line user error."""
import os
from pathlib import Path

import pytest

from trt_panoptic.atomic_io import atomic_write, atomic_write_json, atomic_write_text
from trt_panoptic.errors import TrtPanopticError


def test_write_creates_folders_and_leaves_no_temp_file(tmp_path):
    path = atomic_write_json(tmp_path / "a" / "b" / "r.json", {"x": 1})
    assert path.read_text() == '{\n  "x": 1\n}\n'
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert os.listdir(path.parent) == ["r.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    path = atomic_write_text(tmp_path / "r.txt", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("writer crashed")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["r.txt"]


def test_unwritable_path_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrtPanopticError, match="should be writable"):
        atomic_write_text(tmp_path / "file" / "under_a_file.json", "{}")
    (tmp_path / "dir").mkdir()
    with pytest.raises(TrtPanopticError, match="should be writable"):
        atomic_write_text(tmp_path / "dir", "{}")


def test_an_output_folder_is_readable_by_others(tmp_path):
    from trt_panoptic.atomic_io import atomic_output_dir

    with atomic_output_dir(tmp_path / "dataset") as tmp:
        (tmp / "x.txt").write_text("x")
    assert oct(os.stat(tmp_path / "dataset").st_mode & 0o777) == "0o755"  # a temp folder is made 0700


def test_an_output_stays_apart_from_the_inputs(tmp_path):
    from trt_panoptic.atomic_io import check_apart_from_inputs

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    inputs = {"--data": data, "the JSON": data / "panoptic.json"}
    for bad in (data, tmp_path, data / "panoptic.json"):  # the input, a folder around it, an input file
        with pytest.raises(TrtPanopticError, match="--out"):
            check_apart_from_inputs(bad, inputs, "--out")
    check_apart_from_inputs(data / "preds", inputs, "--out")  # inside an input folder, touching no input
    check_apart_from_inputs(tmp_path / "elsewhere", inputs, "--out")


def test_a_failed_folder_swap_keeps_the_earlier_output(tmp_path, monkeypatch):
    import trt_panoptic.atomic_io as atomic_io
    from trt_panoptic.atomic_io import atomic_output_dir
    from trt_panoptic.errors import BrokenOutputError

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("earlier run")
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == out and ".tmp" in Path(src).name:  # moving the new folder into place fails
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic_io.os, "replace", replace)
    with pytest.raises(BrokenOutputError, match="the earlier output is unchanged"):
        with atomic_output_dir(out, force=True) as tmp:
            (tmp / "new.txt").write_text("new run")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp or .old folder left
