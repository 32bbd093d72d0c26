"""GPU check of the plugin kernels: correctness against PyTorch on the same device, then timings.

Run by ``benchmarks/gpu_check.sh`` (which builds ``libtrt_panoptic_cuda.so`` first). Checks, on random
inputs and edge RoIs, FP32 and FP16:

- RoIAlignFPN kernel vs ``trt_panoptic.ops.multilevel_roi_align`` (the model's PyTorch pooler);
- SemanticUpsampleArgmax kernel vs ``F.interpolate(..., bilinear, align_corners=False).argmax(1)``:
  labels equal except float32 near-ties (counted), score = the max upsampled logit;
- PanopticFusion kernel vs its host build (``trt_panoptic.plugins.host.panoptic_fusion``, itself equal to the
  per-instance reference bit for bit): map and segment table, batch 2, inside a smaller valid region, must be
  identical (the paste arithmetic uses round-to-nearest intrinsics on the device: no FMA contraction);

then times them against the PyTorch equivalents and prints a Markdown table (``--json`` also writes the
numbers). On a GPU, ours and interpolate + argmax are replayed from CUDA graphs (Python's launch overhead
would otherwise exceed a 30 us kernel) over several copies of the input, more bytes than the L2 cache holds,
so every call reads DRAM; the poolers synchronize (torch.nonzero) and run eagerly, as a user runs them.
Each figure is the median of ``--iters`` timed replays (CUDA events). ``--device cpu`` runs the same checks
on the host library instead (used by the CPU tests to exercise this script). Exit code 1 if any check fails.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from trt_panoptic.ops import multilevel_roi_align  # noqa: E402
from trt_panoptic.plugins import build as plugin_build  # noqa: E402
from trt_panoptic.plugins import host  # noqa: E402

STRIDES = [4, 8, 16, 32]


class _RoIParams(ctypes.Structure):
    _fields_ = [("output_size", ctypes.c_int32), ("sampling_ratio", ctypes.c_int32), ("aligned", ctypes.c_int32),
                ("canonical_box_size", ctypes.c_int32), ("canonical_level", ctypes.c_int32)]


class _UpParams(ctypes.Structure):
    _fields_ = [("scale_factor", ctypes.c_int32), ("with_score", ctypes.c_int32)]


class CudaKernels:
    """The CUDA launchers through libtrt_panoptic_cuda.so, on torch CUDA tensors (current stream)."""

    def __init__(self, library: Path):
        self.lib = ctypes.CDLL(str(library))
        self.lib.tp_cuda_roi_align_fpn.restype = ctypes.c_int32
        self.lib.tp_cuda_semantic_upsample_argmax.restype = ctypes.c_int32
        self.lib.tp_cuda_panoptic_fusion.restype = ctypes.c_int32

    def panoptic_fusion(self, labels, masks, boxes, scores, classes, num, valid, num_stuff: int,
                        stuff_area_limit: int = 4096, out=None):
        """out: preallocated (panoptic, segments, num_segments), e.g. one triple per input copy when timing."""
        return _fusion_cuda(self.lib, labels.contiguous(), masks.contiguous(), boxes.contiguous(), scores.contiguous(),
                            classes.contiguous(), num, valid, num_stuff, stuff_area_limit, out)

    def roi_align_fpn(self, rois: torch.Tensor, features: list[torch.Tensor], output_size: int) -> torch.Tensor:
        feats = [f.contiguous() for f in features]
        rois = rois.contiguous()
        n, c = feats[0].shape[:2]
        out = torch.empty((rois.shape[0], c, output_size, output_size), device=rois.device, dtype=feats[0].dtype)
        ptrs = (ctypes.c_void_p * 4)(*[f.data_ptr() for f in feats])
        heights = (ctypes.c_int32 * 4)(*[f.shape[2] for f in feats])
        widths = (ctypes.c_int32 * 4)(*[f.shape[3] for f in feats])
        params = _RoIParams(output_size, 0, 1, 224, 4)
        rc = self.lib.tp_cuda_roi_align_fpn(
            ctypes.c_void_p(rois.data_ptr()), int(rois.dtype == torch.float16), rois.shape[0], rois.shape[1], ptrs,
            int(feats[0].dtype == torch.float16), heights, widths, n, c, ctypes.byref(params),
            ctypes.c_void_p(out.data_ptr()), ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
        if rc != 0:
            raise RuntimeError(f"tp_cuda_roi_align_fpn failed with cudaError {rc}")
        return out

    def semantic_upsample_argmax(
        self, logits: torch.Tensor, scale: int = 4, with_score: bool = True,
        out: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """out: preallocated (labels, scores) to write into, e.g. one pair per input copy when timing."""
        logits = logits.contiguous()
        n, c, h, w = logits.shape
        if out is None:
            out = (torch.empty((n, h * scale, w * scale), device=logits.device, dtype=torch.int32),
                   torch.empty((n, h * scale, w * scale), device=logits.device, dtype=logits.dtype)
                   if with_score else None)
        labels, scores = out
        params = _UpParams(scale, int(with_score))
        rc = self.lib.tp_cuda_semantic_upsample_argmax(
            ctypes.c_void_p(logits.data_ptr()), int(logits.dtype == torch.float16), n, c, h, w, ctypes.byref(params),
            ctypes.c_void_p(labels.data_ptr()), ctypes.c_void_p(scores.data_ptr() if with_score else None),
            ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
        if rc != 0:
            raise RuntimeError(f"tp_cuda_semantic_upsample_argmax failed with cudaError {rc}")
        return labels, scores


class _FusionParams(ctypes.Structure):
    _fields_ = [("instance_score_thresh", ctypes.c_float), ("overlap_thresh", ctypes.c_float),
                ("stuff_area_limit", ctypes.c_int32), ("mask_threshold", ctypes.c_float), ("num_stuff", ctypes.c_int32)]


def _fusion_cuda(lib, labels, masks, boxes, scores, classes, num, valid, num_stuff: int, stuff_area_limit: int,
                 out=None):
    n, h, w = labels.shape
    d, m = masks.shape[1], masks.shape[3]
    if out is None:
        out = (torch.empty_like(labels), torch.empty((n, d + num_stuff, 10), device=labels.device),
               torch.empty((n,), dtype=torch.int32, device=labels.device))
    params = _FusionParams(0.5, 0.5, stuff_area_limit, 0.5, num_stuff)
    ptr = lambda t: ctypes.c_void_p(t.data_ptr())  # noqa: E731
    rc = lib.tp_cuda_panoptic_fusion(
        ptr(labels), n, h, w, ptr(masks), int(masks.dtype == torch.float16), d, m, ptr(boxes), ptr(scores),
        ptr(classes), ptr(num), ptr(valid), ctypes.byref(params), ptr(out[0]), ptr(out[1]), ptr(out[2]),
        ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
    if rc != 0:
        raise RuntimeError(f"tp_cuda_panoptic_fusion failed with cudaError {rc}")
    return out


class HostKernels:
    """The same math through the host library (CPU), for running this script without a GPU."""

    def roi_align_fpn(self, rois: torch.Tensor, features: list[torch.Tensor], output_size: int) -> torch.Tensor:
        out = host.roi_align_fpn(rois.float(), [f.float() for f in features], output_size)
        return out.to(features[0].dtype)

    def semantic_upsample_argmax(
        self, logits: torch.Tensor, scale: int = 4, with_score: bool = True,
        out: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not with_score:
            return host.semantic_upsample_argmax(logits.float(), scale), None
        labels, scores = host.semantic_upsample_argmax(logits.float(), scale, with_score=True)
        return labels, scores.to(logits.dtype)

    def panoptic_fusion(self, labels, masks, boxes, scores, classes, num, valid, num_stuff: int,
                        stuff_area_limit: int = 4096, out=None):
        return _fusion_host(labels, masks, boxes, scores, classes, num, valid, num_stuff, stuff_area_limit)


def _fusion_host(labels, masks, boxes, scores, classes, num, valid, num_stuff: int, stuff_area_limit: int):
    """The host build on CPU copies of the inputs (FP16 masks as the float32 values they hold)."""
    cpu = [t.cpu() for t in (labels, masks.float(), boxes, scores, classes, num, valid)]
    return host.panoptic_fusion(*cpu, stuff_area_limit=stuff_area_limit, max_segments=boxes.shape[1] + num_stuff)


@dataclass
class Row:
    """One line of the report."""

    check: str
    dtype: str
    ok: bool
    detail: str
    ours_ms: float | None = None
    torch_ms: float | None = None
    timing: str = ""


def _timeit(fn: Callable[[], object], device: torch.device, iters: int, warmup: int = 5) -> float:
    """Median milliseconds of eager calls of fn (CUDA events around each call on a GPU, wall clock on the CPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _copies_beyond_l2(nbytes: int, device: torch.device) -> int:
    """How many copies of an input of nbytes together exceed 3x the L2 cache (1 on the CPU)."""
    if device.type != "cuda":
        return 1
    l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 50 << 20)
    return max(1, math.ceil(3 * l2 / max(nbytes, 1)))


def _time_graph(fns: list[Callable[[], object]], device: torch.device, iters: int) -> tuple[float, str]:
    """Median milliseconds per call of a round-robin over fns, replayed from one CUDA graph (eager on the CPU).

    Distinct inputs per fn keep the L2 cache from serving repeated reads; the graph holds at least 8 calls
    so that one replay runs well past the timer's resolution.
    """
    if device.type != "cuda":
        return _timeit(fns[0], device, iters), "wall clock"
    reps = len(fns) * max(1, math.ceil(8 / len(fns)))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the default stream, as graph capture requires
        for fn in fns:
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for k in range(reps):
            fns[k % len(fns)]()
    ms = _timeit(graph.replay, device, iters, warmup=3) / reps
    return ms, f"CUDA graph, {len(fns)} input copies"


def _edge_rois(num: int, height: int, width: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """[num + 9, 5] RoIs: random sizes on every level plus partly/fully outside, tiny, huge, empty."""
    xy = (torch.rand(num, 2, generator=gen) * 1.4 - 0.2) * torch.tensor([width, height])
    wh = torch.rand(num, 2, generator=gen) ** 3 * max(height, width) * 0.8 + 1.0
    edge = torch.tensor([[-20, -20, 30, 30], [width - 40, height - 30, width + 50, height + 40],
                         [-300, -300, -200, -210], [width + 10, height + 10, width + 90, height + 70],
                         [10.2, 10.7, 10.9, 11.1], [-500, -400, width + 500, height + 400], [0, 0, width, height],
                         [0, 0, 224, 224], [5, 5, 5, 5]], dtype=torch.float32)
    boxes = torch.cat([torch.cat([xy, xy + wh], 1), edge])
    index = torch.randint(0, batch, (len(boxes), 1), generator=gen).float()
    return torch.cat([index, boxes], 1)


def check_roi_align(kernels, device: torch.device, args: argparse.Namespace) -> list[Row]:
    gen = torch.Generator().manual_seed(0)
    height, width = args.roi_image
    rows = []
    # correctness: small channel count, many edge RoIs, batch 2
    feats32 = [torch.randn(2, 8, -(-height // s), -(-width // s), generator=gen).to(device) for s in STRIDES]
    rois = _edge_rois(200, height, width, 2, gen).to(device)
    ref = multilevel_roi_align(feats32, rois, 7, STRIDES, sampling_ratio=0, aligned=True)
    for dtype, tol in ((torch.float32, 1e-4), (torch.float16, 2e-2)):
        feats = [f.to(dtype) for f in feats32]
        # the FP16 kernel computes in FP32 from FP16 inputs: compare with the FP32 reference on the same values
        ref_d = ref if dtype == torch.float32 else multilevel_roi_align([f.float() for f in feats], rois, 7, STRIDES)
        out = kernels.roi_align_fpn(rois, feats, 7)
        err = (out.float() - ref_d).abs().max().item()
        rows.append(Row("RoIAlignFPN edge RoIs vs ops pooler", str(dtype).split(".")[-1], err <= tol,
                        f"max abs err {err:.2e} (tol {tol:g}), {len(rois)} RoIs"))
    # timing: the case, 1000 RoIs x 256 channels x 7x7 over P2-P5 of a padded 1024x2048... or --roi-image
    feats32 = [torch.randn(1, args.channels, -(-height // s), -(-width // s), generator=gen).to(device) for s in STRIDES]
    rois = _edge_rois(args.rois - 9, height, width, 1, gen).to(device)
    for dtype in (torch.float32, torch.float16):
        feats = [f.to(dtype) for f in feats32]
        # at least two copies of the maps: the RoIs' footprint of one call must not sit in L2 for the next
        nbytes = sum(f.numel() * f.element_size() for f in feats)
        copies = [feats] + [[f.clone() for f in feats] for _ in range(max(2, _copies_beyond_l2(nbytes, device)) - 1)]
        ours, how = _time_graph([lambda m=m: kernels.roi_align_fpn(rois, m, 7) for m in copies], device, args.iters)
        ours_eager = _timeit(lambda: kernels.roi_align_fpn(rois, feats, 7), device, args.iters)
        how += "; PyTorch eager (torch.nonzero syncs)"
        del copies
        theirs = _timeit(lambda: multilevel_roi_align(feats, rois, 7, STRIDES), device, max(3, args.iters // 5))
        rows.append(Row(f"RoIAlignFPN {len(rois)} RoIs x {args.channels} ch x 7x7", str(dtype).split(".")[-1],
                        True, f"speed-up {theirs / ours:.1f}x vs ops pooler (ours eager from Python: "
                              f"{ours_eager:.3f} ms, {theirs / ours_eager:.1f}x)", ours, theirs, how))
        try:
            import torchvision  # the usual fast baseline: one torchvision roi_align per level

            def tv_pooler():
                from trt_panoptic.ops import assign_boxes_to_levels
                lvl = assign_boxes_to_levels(rois[:, 1:].float(), 2, 5)
                out = feats[0].new_zeros((len(rois), feats[0].shape[1], 7, 7))
                for i, f in enumerate(feats):
                    idx = torch.nonzero(lvl == i).squeeze(1)
                    out[idx] = torchvision.ops.roi_align(f, rois[idx].to(f.dtype), 7, 1.0 / STRIDES[i], 0, True)
                return out

            tv = _timeit(tv_pooler, device, max(3, args.iters // 5))
            rows.append(Row(f"RoIAlignFPN {len(rois)} RoIs x {args.channels} ch (torchvision baseline)",
                            str(dtype).split(".")[-1], True,
                            f"speed-up {tv / ours:.1f}x vs torchvision (ours eager: {tv / ours_eager:.1f}x)", ours, tv,
                            how))
        except ImportError:
            pass
    return rows


def _label_mismatches(labels: torch.Tensor, logits32: torch.Tensor, scale: int) -> tuple[int, bool]:
    """(mismatches vs torch, whether all are float32 near-ties)."""
    up = F.interpolate(logits32, scale_factor=scale, mode="bilinear", align_corners=False)
    ref = up.argmax(1)
    mismatch = labels.long() != ref
    count = int(mismatch.sum())
    if count == 0:
        return 0, True
    ours = up.gather(1, labels.long().unsqueeze(1)).squeeze(1)[mismatch]
    best = up.max(1).values[mismatch]
    ulp = torch.finfo(torch.float32).eps * best.abs().clamp(min=1.0)
    return count, bool(torch.all(best - ours <= 4 * ulp))


def check_upsample_argmax(kernels, device: torch.device, args: argparse.Namespace) -> list[Row]:
    gen = torch.Generator().manual_seed(1)
    h, w = args.logits_hw
    rows = []
    # every kernel path on odd-sized maps, batch 2: blocks (s = 2, 4; interior and perimeter), groups
    # (s = 8), pixels (s = 3); with and without the score output
    for scale, dtype in [(s, d) for d in (torch.float32, torch.float16) for s in (2, 3, 4, 8)]:
        small = torch.randn(2, 7, 13, 17, generator=gen).to(device).to(dtype)
        labels, scores = kernels.semantic_upsample_argmax(small, scale)
        count, ties_only = _label_mismatches(labels, small.float(), scale)
        up_max = F.interpolate(small.float(), scale_factor=scale, mode="bilinear", align_corners=False).max(1).values
        score_err = (scores.float() - up_max).abs().max().item()
        score_tol = 1e-5 if dtype == torch.float32 else 1e-2
        same = torch.equal(kernels.semantic_upsample_argmax(small, scale, with_score=False)[0], labels)
        rows.append(Row(f"SemanticUpsampleArgmax 2x7x13x17 -> x{scale}", str(dtype).split(".")[-1],
                        ties_only and score_err <= score_tol and same,
                        f"{count} label mismatches ({'all near-ties' if ties_only else 'NOT ties'}) of "
                        f"{labels.numel()}; score err {score_err:.1e}; labels-only run {'equal' if same else 'DIFFERS'}"))
    logits32 = torch.randn(1, args.classes, h, w, generator=gen).to(device)
    for dtype in (torch.float32, torch.float16):
        logits = logits32.to(dtype)
        labels, scores = kernels.semantic_upsample_argmax(logits)
        ref32 = logits.float()  # the kernel computes in FP32 from the (possibly FP16) inputs
        count, ties_only = _label_mismatches(labels, ref32, 4)
        up_max = F.interpolate(ref32, scale_factor=4, mode="bilinear", align_corners=False).max(1).values
        score_err = (scores.float() - up_max).abs().max().item()
        score_tol = 1e-5 if dtype == torch.float32 else 1e-2
        rows.append(Row(f"SemanticUpsampleArgmax {args.classes} cls {h}x{w} -> x4", str(dtype).split(".")[-1],
                        ties_only and score_err <= score_tol,
                        f"{count} label mismatches ({'all near-ties' if ties_only else 'NOT ties'}) of "
                        f"{labels.numel()}; score err {score_err:.1e}"))
        copies = [logits] + [logits.clone() for _ in range(_copies_beyond_l2(logits.numel() * logits.element_size(),
                                                                            device) - 1)]
        torch_ms, torch_how = _time_graph(
            [lambda x=x: F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False).argmax(1)
             for x in copies], device, args.iters)
        for with_score in (False, True):
            # one output pair per input copy, allocated outside the graph: outputs allocated inside the
            # capture would share one pool block that the L2 cache could keep between calls
            outs = [(torch.empty_like(labels), torch.empty_like(scores) if with_score else None) for _ in copies]
            ours_ms, how = _time_graph(
                [lambda x=x, o=o: kernels.semantic_upsample_argmax(x, with_score=with_score, out=o)
                 for x, o in zip(copies, outs)], device, args.iters)
            floor = ""
            if args.bandwidth_gbs:
                # memory-traffic floor: read the logits once, write int32 labels (+ the score) once
                out_bytes = labels.numel() * (4 + (scores.element_size() if with_score else 0))
                floor_ms = (logits.numel() * logits.element_size() + out_bytes) / (args.bandwidth_gbs * 1e9) * 1e3
                floor = f", {ours_ms / floor_ms:.1f}x the traffic floor ({floor_ms * 1e3:.1f} us)"
            what = "labels+score" if with_score else "labels"
            rows.append(Row(f"SemanticUpsampleArgmax {args.classes} cls {h}x{w} -> x4, {what}",
                            str(dtype).split(".")[-1], True,
                            f"speed-up {torch_ms / ours_ms:.1f}x vs interpolate+argmax{floor}", ours_ms, torch_ms,
                            how if how == torch_how else f"{how} / {torch_how}"))
    return rows


def _fusion_inputs(n: int, h: int, w: int, d: int, num_stuff: int, seed: int, device: torch.device):
    """A batch of synthetic detections (benchmarks/frame_cost.py's generator) and blocky labels."""
    from benchmarks.frame_cost import synthetic_detections, synthetic_labels

    dets = [synthetic_detections(h, w, d, seed=seed + i) for i in range(n)]
    stack = {k: torch.stack([x[k] for x in dets]).to(device) for k in dets[0]}
    labels = torch.stack([synthetic_labels(h, w, seed + i, num_stuff + 1) for i in range(n)]).to(device)
    num = torch.full((n,), d, dtype=torch.int32, device=device)
    return labels, stack["mask_probs"], stack["boxes"], stack["scores"], stack["classes"].to(torch.int32), num


def check_panoptic_fusion(kernels, device: torch.device, args: argparse.Namespace) -> list[Row]:
    rows = []
    for dtype in (torch.float32, torch.float16):
        # batch 2 on an odd-sized map, the second image's frame smaller than the input
        labels, masks, boxes, scores, classes, num = _fusion_inputs(2, 97, 131, 40, 5, 7, device)
        valid = torch.tensor([[97, 131], [80, 101]], dtype=torch.int32, device=device)
        masks = masks.to(dtype)
        got = kernels.panoptic_fusion(labels, masks, boxes, scores, classes, num, valid, 5, stuff_area_limit=64)
        want = _fusion_host(labels, masks, boxes, scores, classes, num, valid, 5, 64)
        differing = int((got[0].cpu() != want[0]).sum())
        same_count = torch.equal(got[2].cpu(), want[2])
        same_table = torch.equal(got[1].cpu(), want[1])
        rows.append(Row("PanopticFusion 2x97x131, 40 detections, valid region", str(dtype).split(".")[-1],
                        same_count and same_table and differing == 0,
                        f"{differing} of {labels.numel()} pixels differ from the host build; segment table "
                        f"{'identical' if same_table else 'DIFFERS'}"))
    h, w = args.roi_image
    for dtype in (torch.float32, torch.float16):
        labels, masks, boxes, scores, classes, num = _fusion_inputs(1, h, w, 100, 53, 11, device)
        masks = masks.to(dtype)
        valid = torch.tensor([[h, w]], dtype=torch.int32, device=device)
        got = kernels.panoptic_fusion(labels, masks, boxes, scores, classes, num, valid, 53)
        want = _fusion_host(labels, masks, boxes, scores, classes, num, valid, 53, 4096)
        differing = int((got[0].cpu() != want[0]).sum())
        ok = torch.equal(got[1].cpu(), want[1]) and differing == 0
        ours_ms = torch_ms = None
        timing = ""
        if device.type == "cuda":
            copies = _copies_beyond_l2(labels.numel() * 8, device)
            inputs = [(labels.clone(),) for _ in range(copies)]
            outs = [kernels.panoptic_fusion(x[0], masks, boxes, scores, classes, num, valid, 53) for x in inputs]
            ours_ms, timing = _time_graph(
                [lambda x=x, o=o: kernels.panoptic_fusion(x[0], masks, boxes, scores, classes, num, valid, 53, out=o)
                 for x, o in zip(inputs, outs)], device, args.iters)
            from trt_panoptic.postprocess import panoptic_table

            # the tensor version on the GPU (host syncs: eager), the batched PyTorch alternative
            torch_ms = _timeit(lambda: panoptic_table(labels[0], masks[0].float(), boxes[0], scores[0], classes[0],
                                                      implementation="torch"), device, max(3, args.iters // 10))
        floor = ""
        if args.bandwidth_gbs:
            floor_ms = 2 * labels.numel() * 4 / (args.bandwidth_gbs * 1e9) * 1e3  # labels read, map written
            floor = f"; traffic floor {floor_ms * 1e3:.1f} us" + (f" ({ours_ms / floor_ms:.0f}x)" if ours_ms else "")
        rows.append(Row(f"PanopticFusion {h}x{w}, 100 detections, 53 stuff", str(dtype).split(".")[-1], ok,
                        f"{differing} pixels differ from the host build{floor}; target <= 0.5 ms", ours_ms, torch_ms,
                        timing))
    return rows


def measure_copy_bandwidth(device: torch.device) -> float:
    """Achievable DRAM bandwidth (GB/s) from a 1 GiB device-to-device copy (read + write)."""
    src = torch.empty(1 << 28, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    ms = _timeit(lambda: dst.copy_(src), device, 10)
    return 2 * src.numel() * 4 / (ms * 1e-3) / 1e9


def format_table(rows: list[Row]) -> str:
    lines = ["| check | dtype | ok | ours (ms) | PyTorch (ms) | detail | timing |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ours = f"{r.ours_ms:.4f}" if r.ours_ms is not None else ""
        theirs = f"{r.torch_ms:.4f}" if r.torch_ms is not None else ""
        lines.append(f"| {r.check} | {r.dtype} | {'PASS' if r.ok else 'FAIL'} | {ours} | {theirs} | {r.detail} | "
                     f"{r.timing} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--library", type=Path, default=None, help="libtrt_panoptic_cuda.so (default: plugins/build)")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--rois", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--roi-image", type=int, nargs=2, default=[1024, 2048], metavar=("H", "W"))
    parser.add_argument("--classes", type=int, default=54)
    parser.add_argument("--logits-hw", type=int, nargs=2, default=[256, 512], metavar=("h", "w"))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    # the references must be full FP32: no TF32 in the pooler's matmuls
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("no CUDA device visible to PyTorch: nothing to check (use --device cpu for the host library)")
            return 2
        library = args.library or plugin_build.default_build_dir() / "cuda" / plugin_build.CUDA_LIBRARY_NAME
        kernels = CudaKernels(library)
        args.bandwidth_gbs = measure_copy_bandwidth(device)
        name = torch.cuda.get_device_name(device)
        cc = ".".join(map(str, torch.cuda.get_device_capability(device)))
        print(f"device: {name} (sm {cc}), measured copy bandwidth {args.bandwidth_gbs:.0f} GB/s, torch {torch.__version__}")
    else:
        kernels = HostKernels()
        args.bandwidth_gbs = None
        print(f"device: CPU (host library), torch {torch.__version__}")

    torch.manual_seed(0)
    rows = (check_roi_align(kernels, device, args) + check_upsample_argmax(kernels, device, args)
            + check_panoptic_fusion(kernels, device, args))
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)}/{len(rows)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
