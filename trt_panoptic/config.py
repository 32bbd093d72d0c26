"""Configuration as dataclasses; YAML files load into them.

A config is data: :func:`load_config` reads a YAML file (a path, or the name of a config shipped in
``trt_panoptic/configs``) into :class:`Config`; an unknown key is an error naming it with its dotted path.
Modules never read the config inside ``forward``: builders map it onto keyword-only constructor arguments.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trt_panoptic.errors import TrtPanopticError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# The paper's comparison order (Kirillov et al. 2019, Sec. 3): plain, dilated, encoder-decoder, FPN.
BACKBONE_VARIANTS = ("resnet", "dilated16", "dilated8", "encdec", "fpn")
NORMS = ("FrozenBN", "BN", "GN")


@dataclass
class InputConfig:
    """How images enter the model: channel order, normalization, padding, and the size it is made for.

    ``size`` is the (H, W) input every exported backend (ONNX Runtime, TensorRT) uses unless told otherwise:
    recorded by ``train`` (the training images' size) and ``convert`` (detectron2's test sizes); empty =
    not recorded (the exporting backends then use 512×512).
    """

    format: str = "BGR"
    pixel_mean: list[float] = field(default_factory=lambda: [103.53, 116.28, 123.675])
    pixel_std: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    size_divisibility: int = 32
    size: list[int] = field(default_factory=list)


@dataclass
class ResNetConfig:
    """ResNet bottom-up path. Channel counts are those of ResNet-50 scaled by ``width_mult``.

    ``res2_channels`` is the output width of res2 (256 for bottleneck ResNets, 64 for basic-block ones,
    0 = that default); ``bottleneck_channels`` = groups × width per group of res2.
    """

    depth: int = 50
    norm: str = "FrozenBN"
    width_mult: float = 1.0
    stem_channels: int = 64
    res2_channels: int = 0
    bottleneck_channels: int = 64
    num_groups: int = 1
    stride_in_1x1: bool = False


@dataclass
class FPNConfig:
    out_channels: int = 256
    norm: str = ""


@dataclass
class BackboneConfig:
    """``variant``: fpn (default), resnet (plain, 1/32), dilated16, dilated8, encdec (see modeling.backbone)."""

    variant: str = "fpn"
    resnet: ResNetConfig = field(default_factory=ResNetConfig)
    fpn: FPNConfig = field(default_factory=FPNConfig)


@dataclass
class SemanticHeadConfig:
    conv_dims: int = 128
    norm: str = "GN"
    common_stride: int = 4
    ignore_value: int = 255
    loss_weight: float = 0.5


@dataclass
class RPNConfig:
    anchor_sizes: list[float] = field(default_factory=lambda: [32.0, 64.0, 128.0, 256.0, 512.0])
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    pre_nms_topk_train: int = 2000
    pre_nms_topk_test: int = 1000
    post_nms_topk_train: int = 1000
    post_nms_topk_test: int = 1000
    nms_thresh: float = 0.7
    min_box_size: float = 0.0
    iou_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.7])
    batch_size_per_image: int = 256
    positive_fraction: float = 0.5
    bbox_reg_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    smooth_l1_beta: float = 0.0
    loss_weight: float = 1.0


@dataclass
class ROIHeadsConfig:
    box_pooler_resolution: int = 7
    mask_pooler_resolution: int = 14
    pooler_sampling_ratio: int = 0
    canonical_box_size: int = 224
    canonical_level: int = 4
    box_fc_dim: int = 1024
    box_num_fc: int = 2
    mask_conv_dim: int = 256
    mask_num_conv: int = 4
    bbox_reg_weights: list[float] = field(default_factory=lambda: [10.0, 10.0, 5.0, 5.0])
    score_thresh_test: float = 0.05
    nms_thresh_test: float = 0.5
    detections_per_image: int = 100
    iou_threshold: float = 0.5
    batch_size_per_image: int = 512
    positive_fraction: float = 0.25
    smooth_l1_beta: float = 0.0
    proposal_append_gt: bool = True


@dataclass
class PanopticConfig:
    """Panoptic fusion (detectron2's combine step) and the instance/semantic loss weights."""

    instance_score_thresh: float = 0.5
    overlap_thresh: float = 0.5
    stuff_area_limit: int = 4096
    instance_loss_weight: float = 1.0


@dataclass
class ModelConfig:
    """The model: class names fix the head sizes (things → box/mask heads, stuff + 'other' → semantic head).

    ``thing_ids``/``stuff_ids`` are the dataset category ids of the classes (COCO panoptic
    ``category_id``), used when writing predictions; empty means 1..N in the order of the names.
    """

    thing_classes: list[str] = field(default_factory=lambda: ["disc", "box", "triangle"])
    stuff_classes: list[str] = field(default_factory=lambda: ["sky", "road", "grass"])
    thing_ids: list[int] = field(default_factory=list)
    stuff_ids: list[int] = field(default_factory=list)
    input: InputConfig = field(default_factory=InputConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    semantic_head: SemanticHeadConfig = field(default_factory=SemanticHeadConfig)
    rpn: RPNConfig = field(default_factory=RPNConfig)
    roi_heads: ROIHeadsConfig = field(default_factory=ROIHeadsConfig)
    panoptic: PanopticConfig = field(default_factory=PanopticConfig)

    @property
    def num_thing_classes(self) -> int:
        return len(self.thing_classes)

    @property
    def num_semantic_classes(self) -> int:
        """Stuff classes + 1: channel 0 is 'other' (every thing pixel)."""
        return len(self.stuff_classes) + 1


@dataclass
class DataConfig:
    """Datasets in COCO panoptic layout: a folder with ``images/``, ``panoptic/`` and ``panoptic.json``."""

    train: str = ""
    val: str = ""


@dataclass
class TrainConfig:
    """Solver, schedule, augmentation and checkpointing for ``trt-panoptic train``."""

    seed: int = 0
    ims_per_batch: int = 4
    max_iter: int = 1000
    base_lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    weight_decay_norm: float = 0.0
    schedule: str = "step"
    steps: list[int] = field(default_factory=lambda: [700, 900])
    gamma: float = 0.1
    warmup_iters: int = 100
    warmup_factor: float = 0.001
    clip_grad_norm: float = 1.0
    amp: bool = True
    min_size: list[int] = field(default_factory=lambda: [256])
    max_size: int = 256
    flip: bool = True
    crop: float = 0.0
    checkpoint_period: int = 500
    eval_period: int = 0
    eval_max_images: int = 0
    log_period: int = 20
    num_workers: int = 0


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def available_configs() -> list[str]:
    """Names of the configs shipped with the package (without ``.yaml``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config_path(path_or_name: str | Path) -> Path:
    """A YAML path as given, or a shipped config by name (``r18_fpn_tiny`` or ``r18_fpn_tiny.yaml``)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    shipped = CONFIG_DIR / name
    if shipped.is_file() and path.parent == Path("."):
        return shipped
    raise TrtPanopticError(
        f"config {str(path_or_name)!r} not found — give a YAML path or one of: {', '.join(available_configs())}"
    )


def read_yaml(path: Path, what: str) -> Any:
    """The YAML document in the file ``path`` (None if empty); a parse error is a one-line
    :class:`TrtPanopticError` naming ``what`` and the file (callers check that the file exists, with their hint)."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TrtPanopticError(f"{what} {path} should be valid YAML, got a parse error ({str(exc).splitlines()[0]}) "
                               "— fix the file") from None


def load_config(path_or_name: str | Path) -> Config:
    """Load a YAML config (a path or a shipped config name) into :class:`Config`.

    Raises:
        TrtPanopticError: the file is missing, not YAML, or has an unknown key or a value of the wrong type.
    """
    path = resolve_config_path(path_or_name)
    return config_from_dict(read_yaml(path, "config") or {}, source=str(path))


def config_from_dict(data: dict[str, Any], source: str = "config") -> Config:
    """Build a :class:`Config` from nested dicts (as in a YAML file or a checkpoint), validating keys."""
    cfg = _build(Config, data, prefix="", source=source)
    validate_config(cfg)
    return cfg


def validate_config(cfg: Config) -> None:
    """Check values that have a fixed set of choices; raise a :class:`TrtPanopticError` naming the field."""
    m = cfg.model
    checks = [
        ("model.backbone.variant", m.backbone.variant, BACKBONE_VARIANTS),
        ("model.backbone.resnet.depth", m.backbone.resnet.depth, (18, 34, 50, 101)),
        ("model.backbone.resnet.norm", m.backbone.resnet.norm, NORMS),
        ("model.input.format", m.input.format, ("BGR", "RGB")),
        ("train.schedule", cfg.train.schedule, ("step", "cosine")),
    ]
    for name, value, allowed in checks:
        if value not in allowed:
            raise TrtPanopticError(f"{name} should be one of {list(allowed)}, got {value!r} — fix the config")
    if not m.backbone.resnet.width_mult > 0:
        raise TrtPanopticError(f"model.backbone.resnet.width_mult should be > 0, got {m.backbone.resnet.width_mult} — "
                               "e.g. 1.0 (0.25-0.5 for CPU-sized models)")
    size, div = m.input.size, m.input.size_divisibility
    if size and (len(size) != 2 or any(v <= 0 or v % max(div, 1) for v in size)):
        raise TrtPanopticError(f"model.input.size should be [H, W], positive multiples of {div}, got {size} — fix the config")
    if not m.thing_classes or not m.stuff_classes:
        raise TrtPanopticError("model.thing_classes and model.stuff_classes should be non-empty lists — fix the config")
    for ids, names, key in ((m.thing_ids, m.thing_classes, "thing"), (m.stuff_ids, m.stuff_classes, "stuff")):
        if ids and len(ids) != len(names):
            raise TrtPanopticError(
                f"model.{key}_ids should have one id per name ({len(names)}), got {len(ids)} — fix the config"
            )


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise TrtPanopticError(f"{source}: {prefix or 'top level'} should be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        where = f"{prefix}{unknown[0]}"
        raise TrtPanopticError(f"{source}: unknown key {where!r} — known keys here: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{prefix}{name}", source)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str, source: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=f"{where}.", source=source)
    origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TrtPanopticError(f"{source}: {where} should be a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_convert(item, v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and not (type(value) is hint):
        raise TrtPanopticError(f"{source}: {where} should be {hint.__name__}, got {value!r}")
    return value
