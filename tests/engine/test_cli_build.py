"""`trt-panoptic build`: --dry-run plans without TensorRT; a real build without TensorRT says how to install it."""
import subprocess
import sys
from pathlib import Path

import pytest

from onnx_models import fake_plugin_library, make_onnx
from trt_panoptic.cli.main import main

HAVE_TRT = subprocess.run([sys.executable, "-c", "import tensorrt"], capture_output=True).returncode == 0


def test_dry_run_10_3(tmp_path, capsys):
    onnx = make_onnx(tmp_path / "m.onnx")
    rc = main(["build", "--onnx", str(onnx), "--precision", "fp16", "--out", str(tmp_path / "m.engine"),
               "--workspace-mb", "1024", "--dry-run", "--target-trt", "10.3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "TensorRT 10.3.0, fp16, weakly typed network, builder flags: FP16" in out
    assert f"trtexec --onnx={onnx} --saveEngine={tmp_path / 'm.engine'} --fp16 --memPoolSize=workspace:1024M" in out
    assert not (tmp_path / "m.engine").exists()


def test_dry_run_11_4_int8_needs_qdq(tmp_path, capsys):
    plain = make_onnx(tmp_path / "m.onnx")
    rc = main(["build", "--onnx", str(plain), "--precision", "int8", "--out", str(tmp_path / "m.engine"),
               "--dry-run", "--target-trt", "11.4"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "should be built from a Q/DQ ONNX" in err and "trt-panoptic calibrate" in err
    qdq = make_onnx(tmp_path / "q.onnx", "qdq")
    rc = main(["build", "--onnx", str(qdq), "--precision", "int8", "--out", str(tmp_path / "m.engine"),
               "--dry-run", "--target-trt", "11.4.0.106"])
    out = capsys.readouterr().out
    assert rc == 0 and "strongly typed" in out and "--int8" not in out


def test_dry_run_plugins_required(tmp_path, capsys):
    onnx = make_onnx(tmp_path / "p.onnx", "plugin")
    rc = main(["build", "--onnx", str(onnx), "--out", str(tmp_path / "m.engine"), "--dry-run", "--target-trt", "10.3"])
    assert rc == 0 and "the build will need the plugin library for RoIAlignFPN" in capsys.readouterr().out
    lib = fake_plugin_library(tmp_path / "libtrt_panoptic_plugins.so")
    rc = main(["build", "--onnx", str(onnx), "--out", str(tmp_path / "m.engine"), "--plugins", str(lib),
               "--dry-run", "--target-trt", "10.3"])
    assert rc == 0 and f"--dynamicPlugins={lib}" in capsys.readouterr().out


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here: the no-TensorRT message cannot show")
def test_no_tensorrt_says_how_to_install(tmp_path):
    onnx = make_onnx(tmp_path / "m.onnx")
    proc = subprocess.run(
        [sys.executable, "-m", "trt_panoptic.cli.main", "build", "--onnx", str(onnx), "--out",
         str(tmp_path / "m.engine")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "pip install tensorrt" in proc.stderr and "JetPack" in proc.stderr


def test_dry_run_without_version_or_tensorrt(tmp_path, capsys):
    if HAVE_TRT:
        pytest.skip("TensorRT is installed here: --dry-run uses its version")
    onnx = make_onnx(tmp_path / "m.onnx")
    rc = main(["build", "--onnx", str(onnx), "--out", str(tmp_path / "m.engine"), "--dry-run"])
    assert rc == 2 and "--target-trt 10.3" in capsys.readouterr().err


def test_bad_options(tmp_path, capsys):
    onnx = make_onnx(tmp_path / "m.onnx")
    base = ["build", "--onnx", str(onnx), "--out", str(tmp_path / "m.engine"), "--dry-run", "--target-trt", "10.3"]
    assert main(base + ["--opt-level", "7"]) == 2
    assert "--opt-level should be 0..5" in capsys.readouterr().err
    assert main(base + ["--plugins", str(tmp_path / "nope.so")]) == 2
    assert "plugin library should exist" in capsys.readouterr().err
    assert main(base[:-1] + ["8.6"]) == 2
    assert "should be 10.x or 11.x" in capsys.readouterr().err


def test_dry_run_of_a_plugin_onnx_plans_without_the_library(tmp_path, capsys, tensorrt_onnx):
    # the plugin library cannot be built without TensorRT, so a dev box plans without it and is told it is needed
    from trt_panoptic.export.exporter import save_onnx

    onnx = save_onnx(tensorrt_onnx, tmp_path / "m.trt.onnx")
    base = ["build", "--onnx", str(onnx), "--out", str(tmp_path / "m.engine"), "--target-trt", "10.3"]
    assert main(base + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "warning: the build will need the plugin library for PanopticFusion, RoIAlignFPN, SemanticUpsampleArgmax" in out
    assert "--dynamicPlugins=<libtrt_panoptic_plugins.so>" in out or "<libtrt_panoptic_plugins.so>" in out
    # a file that is not a plugin library is refused, whatever its name
    fake = tmp_path / "libtrt_panoptic_plugins.so"
    fake.write_bytes(b"\x7fELF" + b"\0" * 64)
    assert main(base + ["--dry-run", "--plugins", str(fake)]) == 2
    assert "should be a shared library exporting getCreators" in capsys.readouterr().err
    fake.write_bytes(b"\x7fELF" + b"\0" * 64 + b"getCreators\0")  # what a real library's dynamic string table holds
    assert main(base + ["--dry-run", "--plugins", str(fake)]) == 0
    assert f"{fake}" in capsys.readouterr().out


def test_inspect_shows_what_an_engine_was_built_from(tmp_path, capsys):
    # no TensorRT needed: the sidecar says which TensorRT, GPU, precision and plugin library the engine needs
    from trt_panoptic.engine.sidecar import Sidecar, write_sidecar

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    write_sidecar(engine, Sidecar(tensorrt_version="10.3.0.30", gpu_name="Orin", compute_capability="8.7",
                                  precision="fp16", inputs={"image": [1, 3, 256, 256]}, onnx_path="/x/m.onnx",
                                  onnx_sha256="ab" * 32, plugin_path="/x/libtrt_panoptic_plugins.so",
                                  input_size=[256, 256], model_config={"model": {"thing_classes": ["a", "b"]}}))
    assert main(["inspect", str(engine)]) == 0
    out = capsys.readouterr().out
    for text in ("tensorrt_version: 10.3.0.30", "gpu_name: Orin", "compute_capability: 8.7", "precision: fp16",
                 "plugin_path: /x/libtrt_panoptic_plugins.so", "input_size: [256, 256]", "2 thing and 0 stuff"):
        assert text in out
    assert main(["inspect", str(tmp_path / "other.engine")]) == 2
    assert "should have its sidecar" in capsys.readouterr().err


def test_dry_run_on_10_3_with_an_fp16_typed_export_is_strongly_typed(tmp_path, capsys):
    # the same per-layer types as 11.x: the export's FP32 layers (box math, NMS, RoIs) stay FP32, no FP16 flag
    typed = make_onnx(tmp_path / "h.onnx", "fp16")
    outs = {}
    for target in ("10.3", "11.4"):
        assert main(["build", "--onnx", str(typed), "--precision", "fp16", "--out", str(tmp_path / "m.engine"),
                     "--dry-run", "--target-trt", target]) == 0
        outs[target] = capsys.readouterr().out
    assert "TensorRT 10.3.0, fp16, strongly typed network, builder flags: none" in outs["10.3"]
    assert "--stronglyTyped" in outs["10.3"] and "--fp16" not in outs["10.3"]
    assert "fp16, strongly typed network, builder flags: none" in outs["11.4"]
    # an FP32 ONNX on 10.x keeps the weakly typed plan with BuilderFlag.FP16
    assert main(["build", "--onnx", str(make_onnx(tmp_path / "f.onnx")), "--precision", "fp16", "--out",
                 str(tmp_path / "m.engine"), "--dry-run", "--target-trt", "10.3"]) == 0
    assert "weakly typed network, builder flags: FP16" in capsys.readouterr().out


def test_dry_run_of_the_fp32_export_on_10_3_says_what_it_pins(tmp_path, capsys, tensorrt_onnx):
    import onnx

    from trt_panoptic.export.contract import fp32_nodes

    path = tmp_path / "m.onnx"
    onnx.save(tensorrt_onnx, path)
    rc = main(["build", "--onnx", str(path), "--precision", "fp16", "--out", str(tmp_path / "m.engine"),
               "--dry-run", "--target-trt", "10.3"])
    out = capsys.readouterr().out
    assert rc == 0 and "OBEY_PRECISION_CONSTRAINTS" in out
    pinned = len(fp32_nodes(tensorrt_onnx))
    assert pinned > 100 and f"precision constraints: {pinned} ONNX nodes' layers pinned to FP32" in out
