"""Plugin field parsing and serialization (plugins/*/fields.h, the code the creators run) without TensorRT."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from trt_panoptic.errors import TrtPanopticError

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def test_roi_align_fpn_defaults_and_values(host):
    fields, ignored = host.parse_roi_align_fpn_fields({})
    assert fields == host.RoIAlignFPNFields(7, 0, 1, 224, 4) and ignored == []
    fields, ignored = host.parse_roi_align_fpn_fields({
        "output_size": ("INT32", 14), "sampling_ratio": ("INT64", 2), "aligned": ("INT8", 0),
        "canonical_box_size": ("INT16", 112), "canonical_level": ("INT32", 3),
        "plugin_version": ("INT32", 1),  # consumed by the ONNX parser; skipped silently
        "spatial_scale": ("FLOAT32", 0.25),  # unknown: the creator logs a warning and ignores it
    })
    assert fields == host.RoIAlignFPNFields(14, 2, 0, 112, 3)
    assert ignored == ["spatial_scale"]


@pytest.mark.parametrize("fields, message", [
    ({"output_size": ("INT32", 0)}, r"output_size should be in \[1, 1024\], got 0"),
    ({"sampling_ratio": ("INT32", -1)}, r"sampling_ratio should be in \[0, 64\], got -1"),
    ({"aligned": ("INT32", 2)}, r"aligned should be in \[0, 1\], got 2"),
    ({"output_size": ("FLOAT32", 7.0)}, r"output_size should be an integer"),
    ({"output_size": ("INT32", [7, 7])}, r"output_size should be one integer, got length 2"),
])
def test_roi_align_fpn_rejects_bad_fields(host, fields, message):
    with pytest.raises(TrtPanopticError, match=message):
        host.parse_roi_align_fpn_fields(fields)


def test_roi_align_fpn_serialization_round_trips(host):
    original = host.RoIAlignFPNFields(14, 2, 0, 256, 5)
    serialized = host.serialize_roi_align_fpn_fields(original)
    assert list(serialized) == ["output_size", "sampling_ratio", "aligned", "canonical_box_size", "canonical_level"]
    assert all(kind == "INT32" for kind, _ in serialized.values())
    assert host.parse_roi_align_fpn_fields(serialized) == (original, [])


def test_semantic_upsample_argmax_fields(host):
    assert host.parse_semantic_upsample_argmax_fields({}) == (host.SemanticUpsampleArgmaxFields(4, 0), [])
    parsed, _ = host.parse_semantic_upsample_argmax_fields({"scale_factor": ("INT32", 2), "with_score": ("INT32", 1)})
    assert parsed == host.SemanticUpsampleArgmaxFields(2, 1)
    serialized = host.serialize_semantic_upsample_argmax_fields(parsed)
    assert serialized == {"scale_factor": ("INT32", 2), "with_score": ("INT32", 1)}
    assert host.parse_semantic_upsample_argmax_fields(serialized) == (parsed, [])
    with pytest.raises(TrtPanopticError, match=r"scale_factor should be in \[1, 64\], got 0"):
        host.parse_semantic_upsample_argmax_fields({"scale_factor": ("INT32", 0)})
    with pytest.raises(TrtPanopticError, match="with_score should be an integer"):
        host.parse_semantic_upsample_argmax_fields({"with_score": ("FLOAT32", 1.0)})


def _readme_parameters(folder: str) -> dict[str, str]:
    """name -> default from the README's Parameters table (| `name` | type | allowed | default | ...)."""
    text = (PLUGINS / folder / "README.md").read_text(encoding="utf-8")
    section = text.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `(\w+)` \|[^|]*\|[^|]*\| ([^|]*)\|", section, re.M)}


@pytest.mark.parametrize("folder, serialize, defaults", [
    ("roi_align_fpn", "serialize_roi_align_fpn_fields", "RoIAlignFPNFields"),
    ("semantic_upsample_argmax", "serialize_semantic_upsample_argmax_fields", "SemanticUpsampleArgmaxFields"),
    ("panoptic_fusion", "serialize_panoptic_fusion_fields", "PanopticFusionFields"),
])
def test_readme_documents_exactly_the_serialized_fields(host, folder, serialize, defaults):
    serialized = getattr(host, serialize)(getattr(host, defaults)())
    documented = _readme_parameters(folder)
    assert list(documented) == list(serialized), "README Parameters table and plugin fields should agree"
    assert {k: str(v) for k, (_, v) in serialized.items()} == documented, "README defaults should be the plugin's"


def test_export_surgery_emits_exactly_the_plugin_fields(host):
    """Contract with trt_panoptic.export.surgery: the node attributes it writes are the fields the creators read."""
    surgery = pytest.importorskip("trt_panoptic.export.surgery")
    assert (surgery.PLUGIN_NAMESPACE, surgery.PLUGIN_VERSION) == ("trt_panoptic", "1")
    assert list(surgery.PLUGIN_FIELDS["RoIAlignFPN"]) == list(
        host.serialize_roi_align_fpn_fields(host.RoIAlignFPNFields()))
    assert list(surgery.PLUGIN_FIELDS["SemanticUpsampleArgmax"]) == list(
        host.serialize_semantic_upsample_argmax_fields(host.SemanticUpsampleArgmaxFields()))
    assert list(surgery.PLUGIN_FIELDS["PanopticFusion"]) == list(
        host.serialize_panoptic_fusion_fields(host.PanopticFusionFields()))


def test_panoptic_fusion_fields_mix_integers_and_floats(host):
    fields, ignored = host.parse_panoptic_fusion_fields(
        {"overlap_thresh": ("FLOAT32", 0.25), "num_stuff": ("INT32", 53), "extra": ("INT32", 1)})
    assert (fields.overlap_thresh, fields.num_stuff, fields.stuff_area_limit, ignored) == (0.25, 53, 4096, ["extra"])
    serialized = host.serialize_panoptic_fusion_fields(fields)
    assert serialized["overlap_thresh"] == ("FLOAT32", 0.25) and serialized["num_stuff"] == ("INT32", 53)
    assert host.parse_panoptic_fusion_fields(serialized)[0] == fields  # round trip
    with pytest.raises(TrtPanopticError, match="overlap_thresh should be one FLOAT32"):
        host.parse_panoptic_fusion_fields({"overlap_thresh": ("INT32", 1)})
    with pytest.raises(TrtPanopticError, match=r"instance_score_thresh should be in \[0"):
        host.parse_panoptic_fusion_fields({"instance_score_thresh": ("FLOAT32", float("nan"))})
    with pytest.raises(TrtPanopticError, match="num_stuff should be in"):
        host.parse_panoptic_fusion_fields({"num_stuff": ("INT32", 256)})


def test_float_fields_stand_for_their_shortest_decimal(host):
    # The plugin (C++, decimalValue) and the Python side (field_decimal: ONNX Runtime op, portable tail) read a
    # float32 threshold as the same double: the shortest decimal that rounds to it.
    import numpy as np

    rng = np.random.default_rng(0)
    values = np.concatenate([[0.7, 0.5, 0.3, 0.1, 1e-5, 1 / 3, 0.0, 1.0], rng.random(2000), rng.random(500) * 1e-3])
    lib = host.load_library()
    for v in values.astype(np.float32):
        got = lib.tp_decimal_value(float(v))
        assert got == host.field_decimal(v) and np.float32(got) == v, v
    assert host.field_decimal(np.float32(0.7)) == 0.7 and float(np.float32(0.7)) < 0.7
