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


def test_the_sync_free_twin_makes_the_exact_ops_decisions(tiny):
    # Eagerly the twin runs NMS, RoIAlign and the panoptic tail as fixed-shape tensor work (no host sync, no
    # data-dependent shape); with sync_free False it runs the exact ops its ONNX nodes stand for (host loops,
    # data-dependent shapes). Same detections and panoptic map; RoIAlign sums in another order (float rounding).
    model, _ = tiny
    twin = PanopticGraphModel(model.eval(), SIZE, SIZE, panoptic_tail=True, raw_outputs=True).eval()
    for seed in range(4):
        image = torch.from_numpy(np.ascontiguousarray(scene(seed).transpose(2, 0, 1)))[None]
        with torch.no_grad():
            fixed, exact = twin.infer(image)
            twin.sync_free = False
            reference, reference_exact = twin.infer(image)
            twin.sync_free = True
        assert bool(exact) and bool(reference_exact)
        for name in ("sem_labels", "classes", "num_detections", "panoptic", "num_segments"):
            assert torch.equal(fixed[name], reference[name]), (seed, name)
        for name in ("boxes", "scores", "mask_probs", "segments"):
            torch.testing.assert_close(fixed[name], reference[name], atol=1e-4, rtol=1e-4, msg=f"seed {seed}: {name}")
        assert int(fixed["num_detections"][0]) > 0 and int(fixed["num_segments"][0]) > 0
