"""The export twin runs on any device: it holds every constant as a registered buffer (``.to(device)`` moves
it) and makes every tensor of its forward on its input's device.

No GPU is needed: :mod:`export.elsewhere` gives the CPU a second device, and a constant left on the CPU meets
a tensor "elsewhere" in some op, which is recorded where a GPU would raise "Expected all tensors to be on
the same device".
"""
import copy

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from trt_panoptic.export import graph_model
from trt_panoptic.export.graph_model import PanopticGraphModel

from .elsewhere import Elsewhere, run_elsewhere, unwrap
from .tiny_model import SIZE, scene


def _inputs(valid=(SIZE, 96)):
    image = torch.from_numpy(np.ascontiguousarray(scene(1).transpose(2, 0, 1)))[None]
    return image, torch.tensor([valid], dtype=torch.int32)


def _mixes_report(mixes) -> str:
    return "\n".join(f"{m.op} with CPU tensors {m.plain_shapes} at\n{m.where}" for m in mixes[:3])


@pytest.mark.parametrize("half, tail", [(False, False), (True, True)], ids=["fp32 detections", "fp16 panoptic tail"])
def test_graph_model_runs_on_its_inputs_device(tiny, half, tail):
    model, _ = tiny
    graph = PanopticGraphModel(model.eval(), SIZE, SIZE, half=half, panoptic_tail=tail).eval()
    inputs = _inputs()
    outputs, mixes = run_elsewhere(graph, *inputs)
    assert not mixes, _mixes_report(mixes)
    assert all(isinstance(t, Elsewhere) for t in outputs), "every output should be on the input's device"
    with torch.no_grad():
        want = graph(*inputs)
    for name, got, ref in zip(graph.output_names, unwrap(outputs), want):
        assert torch.equal(got, ref), name
    assert int(want[graph.output_names.index("num_detections")][0]) > 0


def _tensors_outside_buffers(module: nn.Module) -> list[str]:
    """Tensors a module (or a submodule, list, dict or dataclass it holds) keeps as plain attributes, which
    ``.to(device)`` does not move."""
    found, seen = [], set()

    def walk(obj, path):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, Tensor):
            found.append(path)
        elif isinstance(obj, nn.Module):
            for name, value in vars(obj).items():
                if name not in ("_parameters", "_buffers"):
                    walk(value, f"{path}.{name}")
        elif isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, f"{path}[{key!r}]")
        elif isinstance(obj, (list, tuple, set)):
            for i, value in enumerate(obj):
                walk(value, f"{path}[{i}]")
        elif hasattr(obj, "__dataclass_fields__"):
            for name in obj.__dataclass_fields__:
                walk(getattr(obj, name), f"{path}.{name}")

    walk(module, "graph")
    return found


@pytest.mark.parametrize("half", [False, True], ids=["fp32", "fp16"])
def test_graph_model_keeps_every_constant_in_a_registered_buffer(tiny, half):
    model, _ = tiny
    graph = PanopticGraphModel(model.eval(), SIZE, SIZE, half=half, panoptic_tail=True)
    assert _tensors_outside_buffers(graph) == []
    buffers = {name for name, _ in graph.named_buffers()}
    assert {"pixel_mean", "pixel_std", "pixel_rows", "pixel_cols", "anchors_0"} <= buffers
    # what .to(device) does to every buffer, on a CPU-only machine (a copy: the twin shares the tiny model)
    moved = copy.deepcopy(graph).to(torch.float64)
    assert moved.pixel_rows.dtype == torch.float64 and moved.anchors_0.dtype == torch.float64


def test_the_check_catches_a_constant_left_on_the_cpu(tiny, monkeypatch):
    # Planted faults, so that the two checks above are known to fail when the twin goes wrong: a buffer
    # turned into a plain attribute, and a constant made in the forward without device=.
    model, _ = tiny
    graph = PanopticGraphModel(model.eval(), SIZE, SIZE).eval()
    rows = graph.pixel_rows
    del graph._buffers["pixel_rows"]
    graph.pixel_rows = rows
    assert _tensors_outside_buffers(graph) == ["graph.pixel_rows"]
    _, mixes = run_elsewhere(graph, *_inputs())
    assert mixes and mixes[0].plain_shapes == [tuple(rows.shape)]

    graph = PanopticGraphModel(model.eval(), SIZE, SIZE).eval()
    monkeypatch.setattr(graph_model, "frame_limits", lambda hw: torch.tensor([96.0, SIZE, 96.0, SIZE]))
    _, mixes = run_elsewhere(graph, *_inputs())
    assert mixes and all(m.plain_shapes == [(4,)] for m in mixes)


def test_the_eager_twins_nms_is_fixed_shape_and_makes_the_onnx_ops_decisions(tiny, monkeypatch):
    # Eagerly the twin runs NMS as fixed-shape tensor work (no host sync, no data-dependent shape); the exported
    # graph has one NonMaxSuppression whose eager stand-in is the host greedy loop: same detections, bit for bit.
    model, _ = tiny
    twin = PanopticGraphModel(model.eval(), SIZE, SIZE).eval()
    for seed in range(4):
        image = torch.from_numpy(np.ascontiguousarray(scene(seed).transpose(2, 0, 1)))[None]
        with torch.no_grad():
            fixed = twin(image)
            exact = bool(twin.last_nms_exact)
            with monkeypatch.context() as m:
                m.setattr(torch.onnx, "is_in_onnx_export", lambda: True)  # the ONNX ops' eager forward
                reference = twin(image)
        assert exact
        for name, a, b in zip(twin.output_names, fixed, reference):
            assert torch.equal(a, b), (seed, name)
        assert int(fixed[twin.output_names.index("num_detections")][0]) > 0
