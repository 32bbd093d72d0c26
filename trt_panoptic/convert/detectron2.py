"""detectron2 PanopticFPN → trt_panoptic: config translation and state-dict mapping with a full report.

detectron2 cannot export Panoptic FPN to ONNX; its checkpoints load here, then go through our export,
engine and video stages unchanged. Our modules keep detectron2's names wherever the role is the same, so
the mapping is a short prefix table; every tensor is accounted for (placed, or a known non-weight buffer).
"""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trt_panoptic.config import Config, config_from_dict, load_config, read_yaml
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling import PanopticFPN, build_model

# detectron2 prefix → ours; every other key keeps its name.
PREFIX_MAP = (
    ("proposal_generator.rpn_head.", "rpn.head."),
    ("roi_heads.box_predictor.", "roi_heads.box_head."),
    ("sem_seg_head.", "semantic_head."),
)
# Buffers some detectron2 checkpoints carry that are not weights: pixel stats live in our config and anchors
# are recomputed.
IGNORED_KEYS = ("pixel_mean", "pixel_std", "proposal_generator.anchor_generator.cell_anchors")


@dataclass
class ConversionReport:
    """What happened to every tensor of the source checkpoint."""

    placed: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        lines = [f"placed {len(self.placed)} tensors ({sum(int(np.prod(s)) for _, _, s in self.placed):,} values); "
                 f"ignored {len(self.ignored)} non-weight buffers"]
        lines += [f"  missing in checkpoint: {k}" for k in self.missing]
        lines += [f"  left over (no place in the model): {k}" for k in self.unexpected]
        lines += [f"  shape mismatch: {k} checkpoint {a} vs model {b}" for k, a, b in self.mismatched]
        return "\n".join(lines)


def _get(d: dict[str, Any], path: str, default: Any = None) -> Any:
    node: Any = d
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _number(d: dict[str, Any], path: str, default: float, kind: type = int) -> Any:
    """The number (``kind``: int or float) at ``path`` of a detectron2 config; a one-line error names the key
    when it is not one (``RES2_OUT_CHANNELS: abc``)."""
    value = _get(d, path, default)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        return kind(value)
    except ValueError:
        name = "an integer" if kind is int else "a number"
        raise TrtPanopticError(f"{path} should be {name}, got {value!r} — fix the detectron2 config") from None


def config_from_detectron2(d2: dict[str, Any], names: dict[str, list[str]] | None = None) -> Config:
    """Translate a detectron2 config (the dict of its YAML dump) into our :class:`Config`.

    Class names are not in a detectron2 config: ``names`` may give ``thing_classes``/``stuff_classes``
    (and ``thing_ids``/``stuff_ids``); COCO-sized heads (80 things, 54 semantic) take the COCO names; else
    ``thing_0``… / ``stuff_1``….
    """
    if _get(d2, "MODEL.META_ARCHITECTURE") != "PanopticFPN":
        raise TrtPanopticError(f"MODEL.META_ARCHITECTURE should be PanopticFPN, got {_get(d2, 'MODEL.META_ARCHITECTURE')!r} — only Panoptic FPN checkpoints convert")
    res = _get(d2, "MODEL.RESNETS", {})
    if _get(d2, "MODEL.RESNETS.DEFORM_ON_PER_STAGE") and any(_get(d2, "MODEL.RESNETS.DEFORM_ON_PER_STAGE")):
        raise TrtPanopticError("deformable convolutions (MODEL.RESNETS.DEFORM_ON_PER_STAGE) are not supported — use a model without them")
    if res.get("RES5_DILATION", 1) != 1:
        raise TrtPanopticError(f"MODEL.RESNETS.RES5_DILATION should be 1 for Panoptic FPN, got {res['RES5_DILATION']}")
    num_things = _number(d2, "MODEL.ROI_HEADS.NUM_CLASSES", 80)
    num_sem = _number(d2, "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 54)
    meta = _class_names(num_things, num_sem - 1, names)
    fmt = _get(d2, "INPUT.FORMAT", "BGR")
    if fmt not in ("BGR", "RGB"):
        raise TrtPanopticError(f"INPUT.FORMAT should be BGR or RGB, got {fmt!r}")
    anchor_sizes = [float(s[0]) for s in _get(d2, "MODEL.ANCHOR_GENERATOR.SIZES", [[32], [64], [128], [256], [512]])]
    ratios = [float(r) for r in _get(d2, "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", [[0.5, 1.0, 2.0]])[0]]
    groups = _number(d2, "MODEL.RESNETS.NUM_GROUPS", 1)
    data = {
        "model": {
            **meta,
            "input": {"format": fmt, "pixel_mean": list(_get(d2, "MODEL.PIXEL_MEAN")), "pixel_std": list(_get(d2, "MODEL.PIXEL_STD")),
                      "size": _test_size(d2)},
            "backbone": {
                "variant": "fpn",
                "resnet": {
                    "depth": _number(d2, "MODEL.RESNETS.DEPTH", 50), "norm": res.get("NORM", "FrozenBN"), "width_mult": 1.0,
                    "stem_channels": _number(d2, "MODEL.RESNETS.STEM_OUT_CHANNELS", 64), "res2_channels": _number(d2, "MODEL.RESNETS.RES2_OUT_CHANNELS", 256),
                    "bottleneck_channels": groups * _number(d2, "MODEL.RESNETS.WIDTH_PER_GROUP", 64), "num_groups": groups,
                    "stride_in_1x1": bool(res.get("STRIDE_IN_1X1", True)),
                },
                "fpn": {"out_channels": _number(d2, "MODEL.FPN.OUT_CHANNELS", 256), "norm": _get(d2, "MODEL.FPN.NORM", "")},
            },
            "semantic_head": {
                "conv_dims": _number(d2, "MODEL.SEM_SEG_HEAD.CONVS_DIM", 128), "norm": _get(d2, "MODEL.SEM_SEG_HEAD.NORM", "GN"),
                "common_stride": _number(d2, "MODEL.SEM_SEG_HEAD.COMMON_STRIDE", 4),
                "ignore_value": _number(d2, "MODEL.SEM_SEG_HEAD.IGNORE_VALUE", 255),
                "loss_weight": _number(d2, "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.5, float),
            },
            "rpn": {
                "anchor_sizes": anchor_sizes, "aspect_ratios": ratios,
                "pre_nms_topk_train": _number(d2, "MODEL.RPN.PRE_NMS_TOPK_TRAIN", 2000),
                "pre_nms_topk_test": _number(d2, "MODEL.RPN.PRE_NMS_TOPK_TEST", 1000),
                "post_nms_topk_train": _number(d2, "MODEL.RPN.POST_NMS_TOPK_TRAIN", 1000),
                "post_nms_topk_test": _number(d2, "MODEL.RPN.POST_NMS_TOPK_TEST", 1000),
                "nms_thresh": _number(d2, "MODEL.RPN.NMS_THRESH", 0.7, float),
                "min_box_size": _number(d2, "MODEL.PROPOSAL_GENERATOR.MIN_SIZE", 0, float),
                "bbox_reg_weights": [float(w) for w in _get(d2, "MODEL.RPN.BBOX_REG_WEIGHTS", [1.0, 1.0, 1.0, 1.0])],
            },
            "roi_heads": {
                "box_pooler_resolution": _number(d2, "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", 7),
                "mask_pooler_resolution": _number(d2, "MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION", 14),
                "pooler_sampling_ratio": _pooler_sampling_ratio(d2),
                "box_fc_dim": _number(d2, "MODEL.ROI_BOX_HEAD.FC_DIM", 1024),
                "box_num_fc": _number(d2, "MODEL.ROI_BOX_HEAD.NUM_FC", 2),
                "mask_conv_dim": _number(d2, "MODEL.ROI_MASK_HEAD.CONV_DIM", 256),
                "mask_num_conv": _number(d2, "MODEL.ROI_MASK_HEAD.NUM_CONV", 4),
                "bbox_reg_weights": [float(w) for w in _get(d2, "MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS", [10.0, 10.0, 5.0, 5.0])],
                "score_thresh_test": _number(d2, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.05, float),
                "nms_thresh_test": _number(d2, "MODEL.ROI_HEADS.NMS_THRESH_TEST", 0.5, float),
                "detections_per_image": _number(d2, "TEST.DETECTIONS_PER_IMAGE", 100),
            },
            "panoptic": {
                "instance_score_thresh": _number(d2, "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.5, float),
                "overlap_thresh": _number(d2, "MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH", 0.5, float),
                "stuff_area_limit": _number(d2, "MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT", 4096),
                "instance_loss_weight": _number(d2, "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", 1.0, float),
            },
        }
    }
    for key, value in (("MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", False), ("MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK", False)):
        if _get(d2, key, False) != value:
            raise TrtPanopticError(f"{key} should be {value}, got {_get(d2, key)!r} — class-agnostic heads are not supported yet")
    if _get(d2, "MODEL.ROI_BOX_HEAD.NUM_CONV", 0):
        raise TrtPanopticError("MODEL.ROI_BOX_HEAD.NUM_CONV should be 0 (the 2-FC box head), got {}".format(_get(d2, "MODEL.ROI_BOX_HEAD.NUM_CONV")))
    return config_from_dict(data, source="detectron2 config")


#: The RoI pooler this project implements (models, export, plugin): aligned RoIAlign (detectron2's ROIAlignV2).
_SUPPORTED_POOLER = "ROIAlignV2"


def _pooler_sampling_ratio(d2: dict[str, Any]) -> int:
    """The one sampling ratio of both RoI heads; a pooler type or a pair of ratios this project does not
    implement is a one-line error instead of a model that silently computes something else."""
    for head in ("ROI_BOX_HEAD", "ROI_MASK_HEAD"):
        kind = _get(d2, f"MODEL.{head}.POOLER_TYPE", _SUPPORTED_POOLER)
        if kind != _SUPPORTED_POOLER:
            raise TrtPanopticError(
                f"MODEL.{head}.POOLER_TYPE should be {_SUPPORTED_POOLER} (aligned RoIAlign, detectron2's default), got "
                f"{kind!r} — this project's RoI heads, export and plugin implement only that pooler")
    box = _number(d2, "MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO", 0)
    mask = _number(d2, "MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO", 0)
    if box != mask or box < 0:
        raise TrtPanopticError(
            f"MODEL.ROI_BOX_HEAD and ROI_MASK_HEAD.POOLER_SAMPLING_RATIO should be one value >= 0, got {box} and {mask} "
            "— this project's RoI heads share one sampling ratio")
    return box


def _test_size(d2: dict[str, Any]) -> list[int]:
    """The fixed input exported backends should use: detectron2's test resize of a landscape frame
    (short side INPUT.MIN_SIZE_TEST, long side up to INPUT.MAX_SIZE_TEST), rounded up to 32 — 800×1344 by
    default; empty when the config does not resize at test time."""
    try:
        short, long = _number(d2, "INPUT.MIN_SIZE_TEST", 800), _number(d2, "INPUT.MAX_SIZE_TEST", 1333)
    except (TypeError, ValueError):
        raise TrtPanopticError("INPUT.MIN_SIZE_TEST and INPUT.MAX_SIZE_TEST should be integers — fix the detectron2 config") from None
    if short <= 0 or long <= 0:
        return []
    return [-(-short // 32) * 32, -(-max(short, long) // 32) * 32]


def _class_names(num_things: int, num_stuff: int, names: dict[str, list] | None) -> dict[str, list]:
    if names:
        out = {k: list(v) for k, v in names.items() if k in ("thing_classes", "stuff_classes", "thing_ids", "stuff_ids")}
        if len(out.get("thing_classes", [])) != num_things or len(out.get("stuff_classes", [])) != num_stuff:
            raise TrtPanopticError(
                f"class names should list {num_things} things and {num_stuff} stuff classes (semantic head minus 'other'), "
                f"got {len(out.get('thing_classes', []))} and {len(out.get('stuff_classes', []))} — fix the names file"
            )
        return out
    if (num_things, num_stuff) == (80, 53):
        coco = load_config("r50_fpn_coco").model
        return {"thing_classes": coco.thing_classes, "stuff_classes": coco.stuff_classes, "thing_ids": coco.thing_ids, "stuff_ids": coco.stuff_ids}
    return {"thing_classes": [f"thing_{i}" for i in range(num_things)], "stuff_classes": [f"stuff_{i + 1}" for i in range(num_stuff)]}


def read_detectron2_weights(path: str | Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """A detectron2 ``.pth`` (``{"model": state_dict}``, loaded weights-only) or model-zoo ``.pkl``.

    A ``.pkl`` is a Python pickle: unpickling runs code from the file, so it is refused unless
    ``trust_pickle`` says the file comes from a source you trust (e.g. detectron2's own model zoo).
    """
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"detectron2 checkpoint {path} not found — check the path")
    if path.suffix == ".pkl" and not zipfile.is_zipfile(path):  # a torch.save archive named .pkl reads as a .pth
        if not trust_pickle:
            raise TrtPanopticError(
                f"{path} is a pickle, and loading a pickle runs code from it — pass --trust-pickle only if you trust its source"
            )
        try:
            with path.open("rb") as f:
                obj = pickle.load(f, encoding="latin1")  # noqa: S301 — explicitly trusted by the user
        except Exception as exc:  # unpickling fails in many ways on a truncated or foreign file
            raise TrtPanopticError(f"{path} should be a complete detectron2 .pkl, got an unreadable pickle "
                                   f"({type(exc).__name__}) — is it truncated? re-download it") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise TrtPanopticError(f"{path} is not a readable weights-only .pth ({type(exc).__name__}) — is it truncated?") from None
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state:
        raise TrtPanopticError(f"{path} should hold a state dict (or {{'model': state_dict}}), found none")
    return {k: torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v for k, v in state.items()}


def map_state_dict(src: dict[str, torch.Tensor], model: PanopticFPN) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Rename detectron2 keys to ours and check every tensor against the model."""
    own = model.state_dict()
    report = ConversionReport()
    out: dict[str, torch.Tensor] = {}
    seen: set[str] = set()
    for key, value in src.items():
        if key.startswith(IGNORED_KEYS):
            report.ignored.append(key)
            continue
        new = key
        for old_prefix, new_prefix in PREFIX_MAP:
            if key.startswith(old_prefix):
                new = new_prefix + key[len(old_prefix):]
                break
        if new not in own:
            report.unexpected.append(key)
            continue
        seen.add(new)
        if tuple(own[new].shape) != tuple(value.shape):
            report.mismatched.append((key, tuple(value.shape), tuple(own[new].shape)))
        else:
            out[new] = value.to(own[new].dtype)
            report.placed.append((key, new, tuple(value.shape)))
    report.missing = sorted(set(own) - seen)
    return out, report


def convert_detectron2(
    checkpoint: str | Path, d2_config: str | Path, trust_pickle: bool = False, names: dict[str, list] | None = None
) -> tuple[PanopticFPN, Config, ConversionReport]:
    """Load a detectron2 PanopticFPN checkpoint + its YAML config into our model.

    Returns (model in eval mode, our config, report). Raises :class:`TrtPanopticError` with the report's
    problem lines when any tensor does not fit.
    """
    cfg_path = Path(d2_config)
    if not cfg_path.is_file():
        raise TrtPanopticError(f"detectron2 config {cfg_path} not found — pass the YAML the model was trained with")
    d2 = read_yaml(cfg_path, "detectron2 config")
    if isinstance(d2, dict) and "_BASE_" in d2:
        raise TrtPanopticError(f"{cfg_path} uses _BASE_; pass the full dump (detectron2: `cfg.dump()`, as saved in the output dir's config.yaml)")
    cfg = config_from_detectron2(d2, names)
    model = build_model(cfg)
    state, report = map_state_dict(read_detectron2_weights(checkpoint, trust_pickle), model)
    if not report.ok:
        problems = report.missing[:3] + report.unexpected[:3] + [k for k, *_ in report.mismatched[:3]]
        raise TrtPanopticError(
            f"{checkpoint} does not fit the model built from {cfg_path}: {len(report.missing)} missing, "
            f"{len(report.unexpected)} left over, {len(report.mismatched)} mis-shaped (e.g. {', '.join(problems)})"
        )
    model.load_state_dict(state, strict=True)
    return model.eval(), cfg, report
