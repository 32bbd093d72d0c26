"""The builder against a recording stand-in of ``tensorrt`` (no TensorRT here): what it configures per
version, how it reports parser errors, what it writes, and that every name it touches is declared in
``trt_panoptic.engine.api.TRT_API`` (the table the real-bindings test checks)."""
import json

import pytest

from fake_trt import GPU, assert_names_declared, make_fake_trt
from onnx_models import fake_plugin_library, make_onnx
from trt_panoptic.engine.api import TRT_API
from trt_panoptic.engine.builder import BuildOptions, build_engine
from trt_panoptic.engine.sidecar import read_sidecar
from trt_panoptic.errors import TrtPanopticError



def _build(tmp_path, version, precision="fp16", kind="fp32", **options):
    trt, rec = make_fake_trt(version, **options.pop("fake", {}))
    onnx = make_onnx(tmp_path / f"{kind}.onnx", kind, batch=options.pop("batch", 1))
    opts = BuildOptions(onnx=onnx, out=tmp_path / "m.engine", precision=precision, **options)
    sidecar = build_engine(opts, trt=trt, gpu=GPU)
    return json.loads((tmp_path / "m.engine").read_bytes()), sidecar, rec


@pytest.mark.parametrize(
    "version, precision, kind, net_flags, flags",
    [
        ("10.3.0", "fp32", "fp32", 0, []),
        ("10.3.0", "fp16", "fp32", 0, ["FP16", "OBEY_PRECISION_CONSTRAINTS"]),
        ("10.13.0.35", "int8", "qdq", 0, ["INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"]),
        ("11.4.0.106", "fp32", "fp32", 1 << 0, []),  # STRONGLY_TYPED is bit 0 on 11.x
        ("11.4.0.106", "fp16", "fp16", 1 << 0, []),
        ("10.3.0", "fp16", "fp16", 1 << 1, []),  # FP16-typed ONNX on 10.x: strongly typed (kSTRONGLY_TYPED = 1), no flag
        ("11.4.0.106", "int8", "qdq", 1 << 0, []),
    ],
)
def test_build_per_version(tmp_path, version, precision, kind, net_flags, flags):
    engine, sidecar, rec = _build(tmp_path, version, precision, kind, workspace_mb=512, opt_level=5)
    assert engine["network_flags"] == net_flags
    assert engine["flags"] == flags
    assert engine["pools"] == {"WORKSPACE": 512 << 20}
    assert engine["opt_level"] == 5
    assert engine["profiles"] == [] and engine["calibrator"] is None
    assert sidecar.tensorrt_version == version and sidecar.precision == precision
    assert sidecar.builder_flags == flags
    assert (sidecar.gpu_name, sidecar.compute_capability) == ("Orin", "8.7")
    assert sidecar.inputs == {"image": [1, 64, 64, 3]}
    assert read_sidecar(tmp_path / "m.engine") == sidecar
    assert {"Builder.create_network", "OnnxParser.parse_from_file", "IBuilderConfig.set_memory_pool_limit",
            "IBuilderConfig.builder_optimization_level", "Builder.build_serialized_network"} <= rec.names
    assert_names_declared(rec, int(version.split(".")[0]))


def test_10x_strongly_typed_flag_number_differs(tmp_path):
    # 10.x numbers STRONGLY_TYPED 1 (EXPLICIT_BATCH is 0); 11.x renumbered it 0: names, never numbers.
    trt10, _ = make_fake_trt("10.3.0")
    trt11, _ = make_fake_trt("11.4.0")
    assert int(trt10.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 1
    assert int(trt11.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 0


def test_dynamic_batch_profile_plugins_and_timing_cache(tmp_path):
    lib = fake_plugin_library(tmp_path / "libtrt_panoptic_plugins.so")
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"old")
    engine, sidecar, rec = _build(tmp_path, "10.3.0", "fp16", "plugin", batch="n", max_batch=4, plugin=lib,
                                  timing_cache=cache)
    assert engine["profiles"] == [{"image": [[1, 64, 64, 3], [4, 64, 64, 3], [4, 64, 64, 3]]}]
    assert cache.read_bytes() == b"old+timed"  # read, reused, written back
    assert sidecar.plugin_path == str(lib) and len(sidecar.plugin_sha256) == 64
    assert sidecar.inputs == {"image": [4, 64, 64, 3]}
    assert "--dynamicPlugins=" in sidecar.trtexec_command and "--maxShapes=image:4x64x64x3" in sidecar.trtexec_command
    assert "--plugins" in sidecar.rebuild_command and "--max-batch 4" in sidecar.rebuild_command
    assert_names_declared(rec, 10)


def test_legacy_calibration_cache_10x(tmp_path):
    calib = tmp_path / "calib.cache"
    calib.write_text("TRT-100300-EntropyCalibration2\nimage: 3c000000\n")  # NV_TENSORRT_VERSION of 10.3.0
    engine, sidecar, rec = _build(tmp_path, "10.3.0", "int8", "fp32", calib_cache=calib)
    assert engine["flags"] == ["INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"]
    assert engine["calibrator"] == {"batch": 1, "cache": calib.read_text()}
    assert_names_declared(rec, 10)


def test_parser_errors_name_nodes(tmp_path, caplog):
    with pytest.raises(TrtPanopticError) as err:
        _build(tmp_path, "11.4.0.106", "fp32", "fp32", fake={"unsupported_ops": ("Mul", "Cast")})
    text = str(err.value)
    assert "should parse with TensorRT 11.4.0.106, got 2 error(s)" in text and "\n" not in text
    assert "node 0 '' (Cast): No importer registered for op: Cast" in text
    assert "(Mul)" in caplog.text  # every error is logged, not only the first
    assert not (tmp_path / "m.engine").exists()


def test_plugin_library_that_does_not_load(tmp_path):
    lib = fake_plugin_library(tmp_path / "libtrt_panoptic_plugins.so")
    with pytest.raises(TrtPanopticError, match="should load plugin library"):
        _build(tmp_path, "10.3.0", "fp16", "plugin", plugin=lib, fake={"plugin_ok": False})


def test_11x_refuses_fp16_from_fp32_onnx_before_touching_tensorrt(tmp_path):
    with pytest.raises(TrtPanopticError, match="FP16-typed ONNX"):
        _build(tmp_path, "11.4.0.106", "fp16", "fp32")


def test_table_declares_only_existing_kinds():
    assert {n.kind for n in TRT_API} <= {"enum", "class", "method", "property", "function", "attribute"}
    assert len({n.path for n in TRT_API}) == len(TRT_API)


def test_lookup_names_the_missing_member():
    trt11, _ = make_fake_trt("11.4.0.106")
    from trt_panoptic.engine.api import lookup

    with pytest.raises(TrtPanopticError, match=r"TensorRT 11.4.0.106 should provide tensorrt.BuilderFlag.FP16"):
        lookup(trt11, "BuilderFlag.FP16", 10)  # what a 10.x plan would ask of an 11.x install
    with pytest.raises(AssertionError, match="not declared for TensorRT 11.x"):
        lookup(trt11, "BuilderFlag.FP16", 11)  # the code cannot even ask: 11.x plans never name it


def test_the_sidecar_carries_the_model_config_and_input_size(tmp_path):
    # an ONNX of trt-panoptic export names its config and size; the engine keeps them, so it runs without it
    import onnx

    from trt_panoptic.config import config_from_dict
    from trt_panoptic.export.contract import write_metadata

    trt, _ = make_fake_trt("10.3.0")
    path = make_onnx(tmp_path / "m.onnx")
    cfg = config_from_dict({"model": {"input": {"size": [64, 64]}}})
    onnx.save(write_metadata(onnx.load(str(path)), config=json.dumps(cfg.to_dict()), height="64", width="64"), str(path))
    sidecar = build_engine(BuildOptions(onnx=path, out=tmp_path / "m.engine", precision="fp16"), trt=trt, gpu=GPU)
    assert sidecar.input_size == [64, 64] and config_from_dict(sidecar.model_config) == cfg
    (tmp_path / "plain").mkdir()
    plain = _build(tmp_path / "plain", "10.3.0")[1]  # any other ONNX: nothing to carry
    assert plain.model_config is None and plain.input_size is None


def test_a_calibration_cache_of_another_tensorrt_is_refused(tmp_path):
    # the header records the TensorRT the scales were written for (NV_TENSORRT_VERSION); the builder compares
    calib = tmp_path / "calib.cache"
    calib.write_text("TRT-100300-EntropyCalibration2\nimage: 3c000000\n")
    with pytest.raises(TrtPanopticError, match=r"should be written for TensorRT 10\.13\.0 \(header TRT-101300-…\), got TRT-100300"):
        _build(tmp_path, "10.13.0.35", "int8", "fp32", calib_cache=calib)
    assert not (tmp_path / "m.engine").exists()


def test_the_plugin_library_loads_once_per_process(tmp_path):
    # TensorRT's registry is process-wide and load_library returns None once any of the plugins is registered
    # (build then run, two runners, a library that registers itself): registered counts as loaded.
    from trt_panoptic.engine.builder import load_plugin_library

    trt, _ = make_fake_trt("10.3.0")
    lib = fake_plugin_library(tmp_path / "libtrt_panoptic_plugins.so")
    load_plugin_library(trt, 10, lib)
    load_plugin_library(trt, 10, lib)
    assert trt.registry_._loaded == [str(lib)]  # the second call sees the creators and does not load again
    assert trt.registry_.load_library(str(lib)) is None  # what a second load would have met
    # a library that registered its creators when it was opened: load_library returns None on the first call
    other, _ = make_fake_trt("11.4.0.106")
    other.registry_.load_library(str(lib))
    other.registry_._loaded.clear()
    load_plugin_library(other, 11, lib)
    assert other.registry_._loaded == []
    # a library that does not hold our plugins still fails in one line
    broken, _ = make_fake_trt("10.3.0", plugin_ok=False)
    with pytest.raises(TrtPanopticError, match="should load plugin library"):
        load_plugin_library(broken, 10, lib)


def test_nvidia_plugins_are_registered_before_parsing(tmp_path):
    # the portable ONNX's RoiAlign becomes ROIAlign_TRT in onnx-tensorrt: its creator must exist (trtexec does this)
    _, _, rec = _build(tmp_path, "10.3.0")
    calls = [c[0] for c in rec.calls]
    assert "init_libnvinfer_plugins" in calls
    assert calls.index("init_libnvinfer_plugins") < calls.index("OnnxParser.parse_from_file")


@pytest.mark.parametrize("fp16_typed", [False, True])
def test_10x_fp16_from_the_fp32_export_pins_its_fp32_islands(tmp_path, tensorrt_onnx, fp16_typed):
    # an FP32 ONNX on 10.x: weakly typed + FP16, the layers the FP16-typed export keeps in FP32 pinned to FP32
    # (box math in FP16 overflows areas above 65504 px²); the FP16-typed export: strongly typed, nothing pinned
    import onnx

    from export.tiny_model import cached_export
    from trt_panoptic.export.contract import fp32_nodes

    model = cached_export("tensorrt", fp16=True) if fp16_typed else tensorrt_onnx
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    trt, rec = make_fake_trt("10.3.0")
    lib = fake_plugin_library(tmp_path / "libtrt_panoptic_plugins.so")
    build_engine(BuildOptions(onnx=path, out=tmp_path / "m.engine", precision="fp16", plugin=lib), trt=trt, gpu=GPU)
    engine = json.loads((tmp_path / "m.engine").read_bytes())
    layers = rec.networks[0]._layers
    pinned = {layer.name for layer in layers if layer._precision_set}
    if fp16_typed:
        assert engine["network_flags"] == 1 << 1 and engine["flags"] == [] and pinned == set()
        return
    assert engine["flags"] == ["FP16", "OBEY_PRECISION_CONSTRAINTS"]
    assert pinned == set(fp32_nodes(model)) and len(pinned) > 100
    for layer in layers:
        if layer.name in pinned:
            assert layer.precision == trt.float32
            assert layer._output_types == {j: trt.float32 for j in range(layer.num_outputs)}
        else:
            assert layer._output_types == {}
    assert_names_declared(rec, 10)


def test_the_workspace_defaults_to_half_the_free_device_memory(tmp_path):
    # TensorRT's default is the whole device: on a Jetson that starves the rest of the process
    trt, _ = make_fake_trt("10.3.0")
    onnx = make_onnx(tmp_path / "m.onnx")
    sidecar = build_engine(BuildOptions(onnx=onnx, out=tmp_path / "m.engine", precision="fp32"), trt=trt, gpu=GPU,
                           memory=lambda: (6 << 30, 8 << 30))
    engine = json.loads((tmp_path / "m.engine").read_bytes())
    assert engine["pools"] == {"WORKSPACE": 3 << 30} and sidecar.workspace_mb == 3072
    assert "--memPoolSize=workspace:3072M" in sidecar.trtexec_command


@pytest.mark.parametrize("error, says", [
    ("[optimizer.cpp::computeCosts] Error Code 10: Internal Error (Could not find any implementation for node "
     "/backbone/res5/Conv.)", "ran out of memory choosing kernels (a workspace of 512 MiB; 700 MiB free of 8192 MiB)"),
    ("Error Code 4: Miscellaneous (IShuffleLayer /Reshape: reshape changes volume)", "first error: Error Code 4"),
])
def test_a_failed_build_is_explained_from_tensorrts_log(tmp_path, error, says):
    trt, rec = make_fake_trt("10.3.0", build_error=error)
    onnx = make_onnx(tmp_path / "m.onnx")
    with pytest.raises(TrtPanopticError, match="should build the engine, got a failure") as info:
        build_engine(BuildOptions(onnx=onnx, out=tmp_path / "m.engine", precision="fp32", workspace_mb=512), trt=trt,
                     gpu=GPU, memory=lambda: (700 << 20, 8 << 30))
    assert says in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "m.engine").exists()
    assert_names_declared(rec, 10)
