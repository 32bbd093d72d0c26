"""Arguments that were silently ignored or accepted, or ran until killed: now one line, exit 2, nothing written."""
import pytest

from trt_panoptic.cli.main import main


@pytest.mark.parametrize("argv, message", [
    (["run", "--source", "x.mp4", "--height", "128", "--output", "none"], "--height and --width should be given together"),
    (["run", "--source", "x.mp4", "--height", "100000", "--width", "100000", "--output", "none"],
     "--height should be 1..8192 pixels"),
    (["bench", "flops", "--num-classes", "0", "--json", "{tmp}/f.json"], "--num-classes should be at least 1"),
    (["bench", "flops", "--width-mult", "0", "--json", "{tmp}/f.json"], "--width-mult should be > 0"),
    (["predict", "--input", "{tmp}", "--output", "{tmp}/out", "--threads", "-2"], "--threads should be 0"),
    (["data", "synth", "--out", "{tmp}/d", "--num-images", "100000000000"], "--num-images should be 1..1,000,000"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, message):
    (tmp_path / "a.png").write_bytes(b"")  # predict needs an input to list before it checks --threads
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and "\n" not in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # nothing written


def test_a_config_with_a_negative_width_multiplier_is_refused():
    from trt_panoptic.config import config_from_dict
    from trt_panoptic.errors import TrtPanopticError

    with pytest.raises(TrtPanopticError, match="width_mult should be > 0, got -3"):
        config_from_dict({"model": {"backbone": {"resnet": {"width_mult": -3}}}})
