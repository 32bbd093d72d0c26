"""Every command that writes, pointed at a full disk or a read-only folder: one line, non-zero, nothing left.

Before, these ended in tracebacks (OSError, torch's RuntimeError), left ``*.pt.tmp`` files, or — worst —
exited 0: ``data synth-video`` on a full disk printed "wrote 10 frames" and renamed an unplayable mp4 into
place. A read-only folder is refused before any work (exit 2); a disk that fills during the work is exit 1
(the work ran, its output could not be completed) with nothing half-written left behind.
"""
import pytest

from trt_panoptic.cli.main import main
from trt_panoptic.data.synthetic import generate_synthetic_dataset

from .conftest import leftovers, the_error

PARITY = "detectron2_parity"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("data") / "d", 2, seed=3, size=(64, 64), progress=False)


def commands(out, dataset, fixtures):
    """The writing commands, each sending its output to the folder ``out``."""
    d2 = fixtures / PARITY
    return {
        "eval --json": ["eval", "--data", str(dataset), "--json", f"{out}/m.json", "--backend", "torch", "--no-progress"],
        "data synth": ["data", "synth", "--out", f"{out}/ds", "--num-images", "2", "--size", "64x64"],
        "data synth-video": ["data", "synth-video", "--out", f"{out}/v.mp4", "--frames", "10", "--size", "64x64"],
        "convert": ["convert", str(d2 / "model_final.pth"), "--d2-config", str(d2 / "config.yaml"), "--out", f"{out}/c.pt"],
        "train": ["train", "--config", "r18_fpn_tiny", "--out", f"{out}/train", "--max-iter", "1", "--train-data",
                  str(dataset), "--val-data", str(dataset), "--threads", "1"],
        "demo": ["demo", "--out-dir", f"{out}/demo", "--frames", "2", "--size", "64x64", "--backend", "torch",
                 "--no-progress"],
    }


NAMES = ["eval --json", "data synth", "data synth-video", "convert", "train", "demo"]


@pytest.mark.parametrize("name", NAMES)
def test_a_read_only_output_is_refused_before_any_work(name, read_only_dir, dataset, fixtures, capsys):
    rc = main(commands(read_only_dir, dataset, fixtures)[name])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "writable" in err, err
    assert leftovers(read_only_dir) == []


#: What a command may leave on a full disk: folders it made (empty) and the training log it appends to.
MAY_REMAIN = {"train": {"train", "train/log.jsonl"}, "demo": {"demo"}}


@pytest.mark.parametrize("name", NAMES)
def test_a_full_disk_ends_in_one_line_and_leaves_nothing_half_written(name, full_disk, dataset, fixtures, capsys):
    rc = main(commands(full_disk, dataset, fixtures)[name])
    err = the_error(capsys.readouterr().err)
    assert rc == 1, err
    assert set(leftovers(full_disk)) <= MAY_REMAIN.get(name, set()), leftovers(full_disk)


def test_a_video_that_could_not_be_written_is_named_and_not_kept(small_disk, capsys):
    # the writer opens, the disk fills during the clip: before, "wrote 30 frames", exit 0, an unplayable mp4
    rc = main(["data", "synth-video", "--out", f"{small_disk}/v.mp4", "--frames", "30", "--size", "256x256"])
    err = the_error(capsys.readouterr().err)
    assert rc == 1 and f"{small_disk}/v.mp4" in err and "30 frames" in err, err
    assert leftovers(small_disk) == []


def test_run_with_a_disk_filling_up_names_the_video_and_exits_1(small_disk, tmp_path, capsys):
    from trt_panoptic.data.synthetic_video import write_synthetic_video

    clip = write_synthetic_video(tmp_path / "in.mp4", 20, (256, 256), progress=False)
    rc = main(["run", "--source", str(clip), "--output", f"{small_disk}/out.mp4", "--backend", "torch", "--no-progress",
               "--no-hud"])
    err = the_error(capsys.readouterr().err)
    assert rc == 1 and f"{small_disk}/out.mp4" in err and "20 frames" in err, err
    assert leftovers(small_disk) == []
