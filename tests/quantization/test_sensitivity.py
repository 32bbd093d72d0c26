"""Sensitivity study: one group in INT8 at a time, even if the skip list would keep it in float."""
from trt_panoptic.quantization.sensitivity import sensitivity


def test_one_group_at_a_time(model):
    amax = {t: 1.0 for t in ("x", "r1", "r2", "f", "hr", "rd")}
    groups = [("stem", ("/stem/*",)), ("absent", ("/zzz/*",)), ("mask predictor", ("/mask_head/predictor/*",))]
    seen = []

    def evaluate(qmodel):
        quantized = sorted(n.input[0] for n in qmodel.graph.node if n.op_type == "QuantizeLinear")
        seen.append(quantized)
        return {"PQ": 50.0 - len(quantized)}

    rows = sensitivity(model, amax, evaluate, {"PQ": 50.0}, groups)
    assert [r.group for r in rows] == ["stem", "mask predictor"]  # a group matching nothing is left out
    assert seen == [["x"], ["rd"]]  # the skip-listed predictor is quantized when it is the group under study
    assert [r.delta_pq for r in rows] == [-1.0, -1.0] and [r.nodes for r in rows] == [1, 1]
