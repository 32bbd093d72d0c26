"""Activation statistics for calibration: run the float ONNX on ONNX Runtime with the tensors to quantize
exposed as extra graph outputs, image by image, and collect per-tensor ``max|x|`` and histograms of ``|x|``.

Two passes, as TensorRT's calibrator does: the first finds every tensor's ``max|x|`` (all ``minmax``
needs), the second fills a ``num_bins`` histogram of ``|x|`` over ``[0, max|x|]`` (for ``percentile``,
``entropy``, ``mse``). Fixing the range first keeps every bin ``max|x| / num_bins`` wide.
"""
from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.quantization.methods import TensorStats

logger = logging.getLogger(__name__)

#: TensorRT's entropy calibrator histogram size.
NUM_BINS = 2048


def expose_tensors(model, tensors: Sequence[str]):
    """A copy of ``model`` (``onnx.ModelProto``) whose graph also outputs ``tensors`` (in their own float type:
    FP16 in the FP16-typed export)."""
    import onnx
    from onnx import helper

    from trt_panoptic.quantization.qdq import tensor_types

    types = tensor_types(model) or {}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    present = {o.name for o in out.graph.output}
    known = {t for n in out.graph.node for t in n.output} | {i.name for i in out.graph.input}
    for t in tensors:
        if t not in known:
            raise TrtPanopticError(f"tensor {t!r} should be produced by the ONNX graph, got no such tensor — plan on this ONNX")
        if t not in present:
            out.graph.output.append(helper.make_tensor_value_info(t, types.get(t, onnx.TensorProto.FLOAT), None))
    return out


def make_session(model, threads: int | None = None):
    """An ONNX Runtime CPU session of an in-memory ``onnx.ModelProto`` (plugin ops of the TensorRT flavour
    registered when the graph has any, so both export flavours calibrate)."""
    from trt_panoptic.export.ort_ops import ort_session

    return ort_session(model, ["CPUExecutionProvider"], threads=threads)


def _run_all(session, input_name: str, tensors: Sequence[str], images: Iterable[np.ndarray], desc: str, progress: bool):
    from tqdm import tqdm

    from trt_panoptic.export.graph_model import VALID_HW_NAME

    # every graph takes the frame's region inside the input and zeroes the padding outside it: calibration
    # images say where their letterbox ends (CalibrationImages.with_valid_hw), plain arrays fill the input
    takes_valid_hw = any(i.name == VALID_HW_NAME for i in session.get_inputs())
    pairs = images.with_valid_hw() if hasattr(images, "with_valid_hw") else ((x, None) for x in images)
    for image, valid_hw in tqdm(pairs, desc=desc, unit="img", disable=not progress, total=_length(images)):
        feed = {input_name: image}
        if takes_valid_hw:
            feed[VALID_HW_NAME] = valid_hw if valid_hw is not None else np.asarray([image.shape[2:]], np.int32)
        yield session.run(list(tensors), feed)


def _length(images: Iterable) -> int | None:
    try:
        return len(images)  # type: ignore[arg-type]
    except TypeError:
        return None


def collect_stats(
    model,
    tensors: Sequence[str],
    images: Iterable[np.ndarray],
    *,
    histograms: bool = True,
    num_bins: int = NUM_BINS,
    progress: bool = True,
) -> dict[str, TensorStats]:
    """Per-tensor statistics of ``tensors`` over the calibration ``images``.

    Args:
        model: the float ``onnx.ModelProto``.
        tensors: names of float tensors to measure.
        images: re-iterable of inputs as the ONNX takes them (uint8 [1, 3, H, W]); iterated once per pass. A
            :class:`~trt_panoptic.quantization.calib_data.CalibrationImages` also gives each input's ``valid_hw``.
        histograms: also collect the histogram pass (needed by every method but ``minmax``).
        num_bins: histogram bins over [0, max|x|].

    Returns:
        tensor name → :class:`TensorStats` (``hist`` float64 [num_bins] when ``histograms``).

    Raises:
        TrtPanopticError: no image at all.
    """
    session = make_session(expose_tensors(model, tensors))
    input_name = session.get_inputs()[0].name
    tensors = list(tensors)
    absmax = np.zeros(len(tensors), np.float64)
    seen = 0
    for outs in _run_all(session, input_name, tensors, images, "calib absmax", progress):
        for k, x in enumerate(outs):
            if x.size:
                absmax[k] = max(absmax[k], float(np.nanmax(np.abs(x))))
        seen += 1
    if seen == 0:
        raise TrtPanopticError("calibration should see at least one image, got none — check --data")
    stats = {t: TensorStats(absmax=float(a)) for t, a in zip(tensors, absmax)}
    if not histograms:
        return stats
    hists = np.zeros((len(tensors), num_bins), np.float64)
    for outs in _run_all(session, input_name, tensors, images, "calib histogram", progress):
        for k, x in enumerate(outs):
            if x.size == 0 or absmax[k] <= 0:
                hists[k, 0] += x.size
                continue
            # bin of |x| = floor(|x| / max · bins); the top value falls into the last bin
            a = np.abs(x.ravel().astype(np.float32, copy=False))
            a *= np.float32(num_bins / absmax[k])
            idx = a.astype(np.intp)
            np.minimum(idx, num_bins - 1, out=idx)
            hists[k] += np.bincount(idx, minlength=num_bins)
    for k, t in enumerate(tensors):
        stats[t].hist = hists[k]
        stats[t].hist_max = float(absmax[k])
    logger.info("calibration statistics of %d tensors over %d images", len(tensors), seen)
    return stats
