"""The sync-free twin's forward has no host sync and no data-dependent shape: ``torch.export`` traces it whole on
the CPU (it refuses ``.item()``, ``.tolist()``, ``nonzero()`` and host branches on tensor values), and the traced
program computes what the eager twin does. On a GPU the same forward is what ``--backend torch-cudagraph``
captures (benchmarks/gpu_cudagraph.py also runs it under ``torch.cuda.set_sync_debug_mode("error")``)."""
import numpy as np
import pytest
import torch
from torch import nn

from trt_panoptic.export.graph_model import PanopticGraphModel

from .tiny_model import SIZE, scene

#: Ops that read a tensor's value on the host or make a shape from it.
HOST_OPS = ("_local_scalar_dense", "nonzero", "item", "unique", "masked_select", "repeat_interleave")


class _Inference(nn.Module):
    """The twin's :meth:`~PanopticGraphModel.infer` as a module returning a flat tuple (outputs, exact)."""

    def __init__(self, twin: PanopticGraphModel) -> None:
        super().__init__()
        self.twin = twin

    def forward(self, image, valid_hw):
        outputs, exact = self.twin.infer(image, valid_hw)
        return (*(outputs[name] for name in self.twin.output_names), exact)


def _inputs(seed=0):
    image = torch.from_numpy(np.ascontiguousarray(scene(seed).transpose(2, 0, 1)))[None]
    return image, torch.tensor([[SIZE, 96]], dtype=torch.int32)


def test_the_sync_free_twin_exports_whole_and_computes_the_same(tiny):
    model, _ = tiny
    twin = PanopticGraphModel(model.eval(), SIZE, SIZE, panoptic_tail=True).eval()
    module = _Inference(twin)
    with torch.no_grad():
        program = torch.export.export(module, _inputs(), strict=False)
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not [t for t in targets if t.startswith("aten.") and t.split(".")[1] in HOST_OPS]
    assert "aten.index_select.default" in targets  # the check reads aten op names
    with torch.no_grad():
        for seed in (1, 2):  # not the frame it was traced on
            got, want = program.module()(*_inputs(seed)), module(*_inputs(seed))
            for name, a, b in zip([*twin.output_names, "exact"], got, want):
                assert torch.equal(a, b), (seed, name)
            assert bool(want[-1]) and int(want[twin.output_names.index("num_segments")][0]) > 0


def test_the_exact_ops_do_not_trace(tiny):
    # The test above can fail: the host-side ops (sync_free False) stop torch.export at their first host read.
    model, _ = tiny
    twin = PanopticGraphModel(model.eval(), SIZE, SIZE, panoptic_tail=True).eval()
    twin.sync_free = False
    with pytest.raises(Exception, match="(?i)data.dependent|symbolic|guard|numpy"), torch.no_grad():
        torch.export.export(_Inference(twin), _inputs(), strict=False)
