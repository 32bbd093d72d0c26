"""``trt-panoptic convert``: import a detectron2 PanopticFPN checkpoint as a trt_panoptic checkpoint.

    trt-panoptic convert --from detectron2 model_final.pth --d2-config config.yaml --out model.pt
    trt-panoptic convert --from detectron2 model_final_xxx.pkl --d2-config config.yaml --out model.pt --trust-pickle
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from trt_panoptic.config import read_yaml
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("convert", help="import a detectron2 PanopticFPN checkpoint (weights + config)",
                              description="Convert a detectron2 PanopticFPN checkpoint and its config dump into this "
                                          "project's checkpoint, with a report of every mapped tensor.")
    p.add_argument("checkpoint", help="detectron2 .pth ({'model': state_dict}) or model-zoo .pkl")
    p.add_argument("--from", dest="source", choices=["detectron2"], default="detectron2", help="framework of the checkpoint")
    p.add_argument("--d2-config", required=True, help="detectron2 YAML config (the full dump saved beside the weights)")
    p.add_argument("--out", required=True, help="output checkpoint (.pt) that carries our config")
    p.add_argument("--names", default=None, help="YAML/JSON with thing_classes, stuff_classes (and optional thing_ids, stuff_ids)")
    p.add_argument("--trust-pickle", action="store_true", help="allow loading a .pkl (unpickling runs code from the file)")
    p.add_argument("--report", default=None, help="write the tensor mapping report (JSON) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.atomic_io import atomic_write_json, check_output_file
    from trt_panoptic.convert import convert_detectron2
    from trt_panoptic.modeling.checkpoint import save_checkpoint

    check_output_file(args.out, "--out")  # before the conversion: fail fast
    if args.report:
        check_output_file(args.report, "--report")
    names = None
    if args.names:
        path = Path(args.names)
        if not path.is_file():
            raise TrtPanopticError(f"names file {path} not found")
        names = read_yaml(path, "names file")
        if not isinstance(names, dict):
            raise TrtPanopticError(f"{path} should map thing_classes/stuff_classes to lists, got {type(names).__name__} — fix it")
    model, cfg, report = convert_detectron2(args.checkpoint, args.d2_config, args.trust_pickle, names)
    print(report.summary())
    out = save_checkpoint(args.out, model, cfg, meta={"converted_from": str(args.checkpoint), "source": "detectron2"})
    if args.report:
        atomic_write_json(args.report, {
            "placed": [{"from": a, "to": b, "shape": list(s)} for a, b, s in report.placed], "ignored": report.ignored,
        })
    r = cfg.model.backbone.resnet
    print(f"wrote {out}: R{r.depth}-FPN, {cfg.model.num_thing_classes} thing / {cfg.model.num_semantic_classes - 1} stuff classes, "
          f"input {cfg.model.input.format}. Next: trt-panoptic predict --weights {out} --input IMAGE --output DIR")
    return 0
