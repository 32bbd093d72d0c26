"""``trt-panoptic bench flops|latency``: the issue's JSON schema, the side files, user errors, backends."""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from trt_panoptic.bench.compare import export_onnx, parse_trtexec_times
from trt_panoptic.cli.main import main
from trt_panoptic.modeling.backbone.variants import VARIANTS, VariantSpec, build_variant

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_bench_flops_writes_the_issue_schema_with_table_and_plot(tmp_path):
    out = tmp_path / "flops.json"
    assert main(["bench", "flops", "--depth", "50", "--height", "256", "--width", "512", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["input"] == [256, 512] and result["depth"] == 50
    assert list(result["variants"]) == list(VARIANTS)
    strides = {"resnet": 32, "dilated16": 16, "dilated8": 8, "encdec": 4, "fpn": 4}
    for name, v in result["variants"].items():
        for key in ("gmacs", "gmacs_backbone", "activations_mb", "params_m", "output_stride"):
            assert isinstance(v[key], (int, float)), (name, key)
        assert v["output_stride"] == strides[name]
        parts = v["gmacs_backbone"] + v["gmacs_decoder"] + v["gmacs_head"]
        assert parts == pytest.approx(v["gmacs"], rel=1e-12)
        assert v["gmacs"] > 0 and v["activations_mb"] > 0 and v["params_m"] > 0
    # the backbone is the same plain ResNet-50 for resnet, encdec and fpn: same MACs
    assert result["variants"]["resnet"]["gmacs_backbone"] == result["variants"]["fpn"]["gmacs_backbone"]
    assert result["variants"]["encdec"]["gmacs_backbone"] == result["variants"]["fpn"]["gmacs_backbone"]
    assert {t["variant"] for t in result["paper_targets"]} == {"dilated8", "dilated16", "encdec"}
    assert result["machine"]["cpu_cores"] >= 1 and result["machine"]["versions"]["torch"] == torch.__version__
    table = out.with_suffix(".md").read_text()
    assert "| dilated8 | 1/8 |" in table and "Machine:" in table
    assert out.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC


def test_bench_latency_torch_cpu_times_each_variant(tmp_path):
    out = tmp_path / "lat.json"
    argv = ["bench", "latency", "--backend", "torch", "--depth", "18", "--width-mult", "0.5", "--height", "64", "--width", "64",
            "--variants", "fpn", "dilated8", "--warmup", "0", "--iterations", "3", "--json", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert (result["backend"], result["precision"], result["device"], result["input"]) == ("torch", "fp32", "cpu", [64, 64])
    assert result["width_mult"] == 0.5
    assert list(result["variants"]) == ["fpn", "dilated8"]
    for s in result["variants"].values():
        assert s["iterations"] == 3
        assert 0 < s["min_ms"] <= s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"]
        assert s["min_ms"] <= s["mean_ms"] <= s["max_ms"]
        assert s["throughput"] == pytest.approx(1000.0 / s["mean_ms"])
    assert out.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--variants", "fpn", "dilated4"], "variants should be among"),
        (["--height", "100"], "multiples of 32"),
        (["--precision", "fp16"], "fp16 should run on"),
        (["--precision", "int8"], "int8 latency should be measured with --backend tensorrt"),
    ],
)
def test_bench_user_errors_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    argv = ["bench", "latency", "--depth", "18", "--height", "64", "--width", "64", "--json", str(tmp_path / "x.json")]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.skipif(shutil.which("trtexec") is not None, reason="trtexec is installed here")
def test_bench_tensorrt_without_trtexec_says_what_to_install(tmp_path, capsys):
    argv = ["bench", "latency", "--backend", "tensorrt", "--depth", "18", "--height", "64", "--width", "64",
            "--json", str(tmp_path / "x.json")]
    assert main(argv) == 2
    assert "install TensorRT" in capsys.readouterr().err


def test_variant_onnx_runs_on_onnxruntime_like_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime backend")
    torch.manual_seed(0)
    model = build_variant("fpn", VariantSpec(depth=18, num_classes=5, width_mult=0.5, fpn_channels=32,
                                             semantic_dims=32)).eval()
    image = torch.randn(1, 3, 64, 64)
    path = export_onnx(model, image, tmp_path / "fpn.onnx")
    (onnx_out,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": image.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(onnx_out, model(image).numpy(), rtol=1e-4, atol=1e-5)


def test_trtexec_export_times_become_phase_records_and_wall_time():
    records = [
        {"count": 2},  # not a per-inference record: skipped
        {"startEnqMs": 10.0, "endEnqMs": 10.4, "startH2dMs": 10.1, "endH2dMs": 10.6, "startComputeMs": 10.6,
         "endComputeMs": 14.6, "startD2hMs": 14.6, "endD2hMs": 14.9, "h2dMs": 0.5, "computeMs": 4.0, "d2hMs": 0.3,
         "latencyMs": 4.8},
        {"startEnqMs": 15.0, "endEnqMs": 15.2, "startH2dMs": 15.0, "endH2dMs": 15.5, "startComputeMs": 15.5,
         "endComputeMs": 20.5, "startD2hMs": 20.5, "endD2hMs": 21.0, "h2dMs": 0.5, "computeMs": 5.0, "d2hMs": 0.5,
         "latencyMs": 6.0},
    ]
    phases, wall = parse_trtexec_times(records)
    assert phases == [
        {"h2d_ms": 0.5, "compute_ms": 4.0, "d2h_ms": 0.3, "enqueue_ms": pytest.approx(0.4)},
        {"h2d_ms": 0.5, "compute_ms": 5.0, "d2h_ms": 0.5, "enqueue_ms": pytest.approx(0.2)},
    ]
    assert wall == pytest.approx(0.011)  # 10.0 ms → 21.0 ms
    # TensorRT 8.x names: inMs / outMs
    old, _ = parse_trtexec_times([{"startInMs": 0.0, "endOutMs": 2.0, "inMs": 0.2, "computeMs": 1.5, "outMs": 0.3}])
    assert old == [{"h2d_ms": 0.2, "compute_ms": 1.5, "d2h_ms": 0.3}]


@pytest.mark.parametrize("precision, flags", [("fp32", []), ("fp16", ["--fp16"]), ("int8", ["--int8", "--fp16"])])
def test_tensorrt_variants_take_the_build_plans_trtexec_flags(tmp_path, monkeypatch, precision, flags):
    # A stand-in trtexec records its command line and writes --exportTimes as trtexec does; the precision
    # flags must be the ones engine.versions plans for TensorRT 10.x (no Python tensorrt here: 10.3)
    import json
    import os
    import stat

    from trt_panoptic.bench.compare import latency_comparison

    if shutil.which("trtexec") is not None:
        pytest.skip("a real trtexec is installed here")
    log = tmp_path / "argv.json"
    fake = tmp_path / "bin" / "trtexec"
    fake.parent.mkdir()
    fake.write_text(f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
json.dump(args, open({str(log)!r}, "w"))
times = next(a.split("=", 1)[1] for a in args if a.startswith("--exportTimes="))
json.dump([{{"startH2dMs": 0.0, "endD2hMs": 1.0, "h2dMs": 0.1, "computeMs": 0.8, "d2hMs": 0.1}}], open(times, "w"))
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    result = latency_comparison(backend="tensorrt", precision=precision, variants=["fpn"], depth=18, height=64, width=64,
                                iterations=1, warmup=1, spec=VariantSpec(depth=18, width_mult=0.25, fpn_channels=32,
                                                                         semantic_dims=32))
    argv = json.loads(log.read_text())
    assert [a for a in argv if a in ("--fp16", "--int8", "--best")] == flags
    assert any(a.startswith("--onnx=") for a in argv) and any(a.startswith("--saveEngine=") for a in argv)
    assert result["variants"]["fpn"]["trtexec_command"].split()[0] == str(fake)
