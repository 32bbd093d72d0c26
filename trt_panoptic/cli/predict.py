"""``trt-panoptic predict``: run the PyTorch model on images and write COCO panoptic results.

    trt-panoptic predict [--weights W] --input IMAGE_OR_DIR --output DIR [--save-raw]

Per image: ``<stem>.png`` (COCO panoptic id PNG), ``<stem>.json`` (segments_info with dataset category ids),
``<stem>_overlay.jpg``; with ``--save-raw`` also ``<stem>.npz`` holding detectron2's output arrays
(sem_seg [C,H,W] float32 logits, boxes [N,4], scores [N], classes [N] int64, masks [N,H,W] bool, panoptic [H,W] int32).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from trt_panoptic.atomic_io import atomic_write, atomic_write_bytes, check_apart_from_inputs
from trt_panoptic.data.frames import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, cv2_module, folder_images
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="panoptic segmentation of images with the PyTorch model",
                              description="Segment images with a PyTorch checkpoint (ours or converted from detectron2); "
                                          "writes COCO panoptic PNGs + JSON and overlays.")
    p.add_argument("--weights", default=None, help="checkpoint (.pt, carries its config); default: the bundled model")
    p.add_argument("--config", default=None, help="override the checkpoint's config")
    p.add_argument("--input", required=True, help="an image file or a folder of images")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--save-raw", action="store_true", help="also write <stem>.npz with the raw output arrays")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse pictures larger than N pixels, read from the header before decoding (default {DEFAULT_MAX_PIXELS:,})")
    p.set_defaults(func=run)


def list_images(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        images = folder_images(path, natural=False)
        if images:
            return images
        raise TrtPanopticError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) — point --input at images")
    raise TrtPanopticError(f"input {path} not found — give an image file or a folder of images")


def _unique_stem(stem: str, used: set[str]) -> str:
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from trt_panoptic.data.categories import PanopticCategories
    from trt_panoptic.data.coco_panoptic import encode_panoptic_png
    from trt_panoptic.data.frames import decode_image, read_image_bgr
    from trt_panoptic.data.preprocess import to_model_channels
    from trt_panoptic.evaluation.evaluator import result_to_coco
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.data.preprocess import Letterbox
    from trt_panoptic.postprocess.result import detection_outputs, result_from_outputs
    from trt_panoptic.runtime.torch_backend import torch_device
    from trt_panoptic.video.render import PanopticRenderer

    if args.max_pixels < 1:
        raise TrtPanopticError(f"--max-pixels should be at least 1, got {args.max_pixels} — e.g. {DEFAULT_MAX_PIXELS}")
    if args.threads < 0:
        raise TrtPanopticError(f"--threads should be 0 (torch's default) or more, got {args.threads} — e.g. --threads 2")
    cv2 = cv2_module()
    device = torch_device(args.device)
    images = list_images(Path(args.input))
    out_dir = Path(args.output)
    # results are written as <stem>.png etc.: never into the input folder itself, never over an input image
    check_apart_from_inputs(out_dir, {"--input": args.input}, "--output")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrtPanopticError(f"cannot create output folder {out_dir} ({exc.strerror}) — choose a writable --output") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg = load_model(args.weights, args.config)
    model.to(device)
    categories = PanopticCategories.from_model_config(cfg.model)
    renderer = PanopticRenderer(cfg.model.thing_classes, cfg.model.stuff_classes, track=False)
    stems: set[str] = set()
    skipped = 0
    for path in tqdm(images, desc="predict", unit="img", disable=len(images) < 2):
        if len(images) == 1:
            bgr = read_image_bgr(path, max_pixels=args.max_pixels)  # the one picture asked for: an error
        elif (bgr := decode_image(path, args.max_pixels)) is None:  # in a folder: skipped, warned, counted
            skipped += 1
            continue
        stem = _unique_stem(path.stem, stems)  # a.png and a.jpg must not overwrite each other's results
        image = to_model_channels(bgr, cfg.model.input.format)
        with torch.no_grad():
            (out,) = model([torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(device)],
                           do_postprocess=False)
        result = result_from_outputs(detection_outputs(out), Letterbox.identity(*bgr.shape[:2]), **model.fusion)
        pan_ids, coco_segments = result_to_coco(result, categories)
        atomic_write_bytes(out_dir / f"{stem}.png", encode_panoptic_png(pan_ids))
        atomic_write_bytes(out_dir / f"{stem}.json", json.dumps({"file_name": path.name, "segments_info": coco_segments}, indent=1).encode())
        ok, jpg = cv2.imencode(".jpg", renderer.render(bgr, result))
        atomic_write_bytes(out_dir / f"{stem}_overlay.jpg", jpg.tobytes())
        if args.save_raw:
            raw = {
                "sem_seg": out["sem_seg"].float().cpu().numpy(), "boxes": result.boxes.astype(np.float32),
                "scores": result.scores.astype(np.float32), "classes": result.classes, "masks": result.masks.astype(bool),
                "panoptic": result.panoptic.astype(np.int32),
            }
            atomic_write(out_dir / f"{stem}.npz", lambda tmp: np.savez_compressed(tmp, **raw))
    print(f"wrote {len(images) - skipped} result(s) to {out_dir}/ (<stem>.png, .json, _overlay.jpg"
          f"{', .npz' if args.save_raw else ''})" + (f"; skipped {skipped} unreadable image(s), see the warnings" if skipped else ""))
    if skipped == len(images):
        raise TrtPanopticError(f"--input {args.input} should hold readable images, got {skipped} unreadable — see the warnings")
    return 0
