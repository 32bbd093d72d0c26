"""TensorRT version parsing and the build-plan table (which precision mechanism each version uses).

The table (also in docs/ARCHITECTURE.md, "TensorRT"):

| TensorRT | fp32 | fp16 | int8 |
|---|---|---|---|
| 10.x | weakly typed network, no flag | FP16-typed ONNX: strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``, 1 in 10.3's header), exactly as 11.x; FP32 ONNX: ``BuilderFlag.FP16`` with the export's FP32 islands pinned to FP32 (``OBEY_PRECISION_CONSTRAINTS``) | Q/DQ'd FP16-typed ONNX: strongly typed, as 11.x; Q/DQ'd FP32 ONNX: ``BuilderFlag.INT8`` + ``FP16`` (so the layers kept in float run in half), FP32 islands pinned; or, legacy, a plain ONNX + calibration cache |
| 11.x | strongly typed network | strongly typed, FP16-typed ONNX | strongly typed, Q/DQ ONNX (FP16 where the Q/DQ'd export is FP16-typed) |

TensorRT 11 removed ``BuilderFlag.FP16/INT8``, the INT8 calibrators and ``EXPLICIT_BATCH`` and renumbered
the creation flags, so a plan names enum members by *name*; the builder resolves them through
:func:`trt_panoptic.engine.api.lookup`. Everything here is pure Python: no TensorRT needed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from trt_panoptic.errors import TrtPanopticError

PRECISIONS = ("fp32", "fp16", "int8")
SUPPORTED_MAJORS = (10, 11)

# What the ONNX given to the builder must be for a plan (checked by trt_panoptic.engine.onnx_info).
ONNX_ANY = "any"  # plain FP32 ONNX (an FP16-typed one is accepted too: it stays FP16)
ONNX_FP16_TYPED = "fp16-typed"  # `trt-panoptic export --flavor tensorrt --fp16`
ONNX_QDQ = "qdq"  # `trt-panoptic calibrate ... --out model.int8.onnx`
ONNX_FP32_FOR_CALIB = "fp32+calibration-cache"  # 10.x legacy implicit quantization


@dataclass(frozen=True, order=True)
class TrtVersion:
    """A TensorRT version, e.g. ``10.3.0`` (JetPack 6) or ``11.4.0.106``; ``build`` is informational."""

    major: int
    minor: int = 0
    patch: int = 0
    build: int = 0

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}.{self.build}" if self.build else text

    def same_release(self, other: "TrtVersion") -> bool:
        """True when an engine built with ``self`` can be deserialized by ``other`` (same major.minor.patch)."""
        return (self.major, self.minor, self.patch) == (other.major, other.minor, other.patch)


_VERSION_RE = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:[.+-].*)?\s*$")


def parse_version(text: str) -> TrtVersion:
    """Parse ``"10.3"``, ``"10.13.0.35"``, ``"11.4.0.106"`` (what ``tensorrt.__version__`` gives) into a
    :class:`TrtVersion`; anything else is a :class:`TrtPanopticError`."""
    match = _VERSION_RE.match(str(text))
    if not match:
        raise TrtPanopticError(
            f"TensorRT version should look like 10.3 or 11.4.0.106, got {text!r} — pass e.g. --target-trt 10.3"
        )
    parts = [int(g) if g is not None else 0 for g in match.groups()]
    return TrtVersion(*parts)


def check_supported(version: TrtVersion) -> None:
    """Raise unless ``version`` is a TensorRT major this package builds for (10 or 11)."""
    if version.major not in SUPPORTED_MAJORS:
        raise TrtPanopticError(
            f"TensorRT version should be 10.x or 11.x, got {version} — install TensorRT ≥ 10 "
            "(JetPack 6 ships 10.3; desktop: pip install tensorrt from NVIDIA's index)"
        )


@dataclass(frozen=True)
class BuildPlan:
    """How to build one precision on one TensorRT version.

    Enum members are names (``"FP16"`` for ``tensorrt.BuilderFlag.FP16``), resolved at build time.

    Attributes:
        version: target TensorRT.
        precision: ``fp32``, ``fp16`` or ``int8``.
        network_flags: ``NetworkDefinitionCreationFlag`` member names.
        builder_flags: ``BuilderFlag`` member names.
        onnx_requirement: one of the ``ONNX_*`` constants above.
        uses_calibration_cache: 10.x legacy INT8 path (a calibrator that only replays a cache file).
        trtexec_precision_args: the trtexec flags that give the same precision.
        pins_fp32: weakly typed with reduced precision from an FP32 ONNX (10.x): the layers the FP16-typed export
            keeps in FP32 (:func:`trt_panoptic.export.contract.fp32_nodes`) are pinned to FP32 by precision
            constraints (``BuilderFlag.OBEY_PRECISION_CONSTRAINTS``).
        notes: why this plan, for the log.
    """

    version: TrtVersion
    precision: str
    network_flags: tuple[str, ...]
    builder_flags: tuple[str, ...]
    onnx_requirement: str
    uses_calibration_cache: bool = False
    trtexec_precision_args: tuple[str, ...] = ()
    pins_fp32: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def strongly_typed(self) -> bool:
        return "STRONGLY_TYPED" in self.network_flags

    def enum_names(self) -> list[str]:
        """Every ``Enum.MEMBER`` this plan needs from the bindings (checked against the real ones in tests)."""
        names = [f"NetworkDefinitionCreationFlag.{f}" for f in self.network_flags]
        names += [f"BuilderFlag.{f}" for f in self.builder_flags]
        return names

    def describe(self) -> str:
        """One paragraph for the log: the plan and why."""
        typed = "strongly typed" if self.strongly_typed else "weakly typed"
        flags = ", ".join(self.builder_flags) or "none"
        lines = [
            f"build plan: TensorRT {self.version}, {self.precision}, {typed} network, builder flags: {flags}, "
            f"ONNX: {self.onnx_requirement}"
        ]
        lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


def select_plan(version: TrtVersion | str, precision: str, *, calibration_cache: bool = False,
                fp16_typed_onnx: bool = False) -> BuildPlan:
    """The :class:`BuildPlan` for ``precision`` on TensorRT ``version`` (the table in the module docstring).

    Args:
        version: a :class:`TrtVersion` or its text.
        precision: ``fp32`` | ``fp16`` | ``int8``.
        calibration_cache: INT8 from a plain ONNX + a TensorRT calibration cache (10.x legacy path only).
        fp16_typed_onnx: the ONNX is FP16-typed (``export --fp16``, or its Q/DQ version): on 10.x, fp16 and Q/DQ
            int8 are then built strongly typed, so the layers the export keeps in FP32 (box math, NMS, RoIs,
            normalization) stay FP32, as on 11.x. From an FP32 ONNX, 10.x pins those layers to FP32 instead.
    """
    if isinstance(version, str):
        version = parse_version(version)
    check_supported(version)
    if precision not in PRECISIONS:
        raise TrtPanopticError(f"precision should be one of {', '.join(PRECISIONS)}, got {precision!r} — pick one")
    if calibration_cache and precision != "int8":
        raise TrtPanopticError(
            f"a calibration cache only applies to int8, got precision {precision} — drop --calib-cache or use int8"
        )
    if version.major == 10:
        if precision == "fp16" and fp16_typed_onnx:
            return BuildPlan(
                version, precision, ("STRONGLY_TYPED",), (), ONNX_FP16_TYPED, trtexec_precision_args=("--stronglyTyped",),
                notes=("FP16 from the FP16-typed ONNX on a strongly typed network (as on 11.x): the export's FP32 "
                       "layers — box decoding, NMS, RoIs, normalization — stay FP32; no BuilderFlag.FP16",),
            )
        if precision == "int8" and fp16_typed_onnx and not calibration_cache:
            return BuildPlan(
                version, precision, ("STRONGLY_TYPED",), (), ONNX_QDQ, trtexec_precision_args=("--stronglyTyped",),
                notes=("INT8 + FP16 from the Q/DQ'd FP16-typed ONNX on a strongly typed network (as on 11.x): INT8 "
                       "where the Q/DQ nodes are, FP16 and the export's FP32 islands elsewhere",),
            )
        return _plan_10(version, precision, calibration_cache)
    return _plan_11(version, precision, calibration_cache)


def _plan_10(version: TrtVersion, precision: str, calibration_cache: bool) -> BuildPlan:
    if precision == "fp32":
        return BuildPlan(version, precision, (), (), ONNX_ANY, notes=("FP32: no precision flag",))
    pinned = ("the layers the FP16-typed export keeps in FP32 — box decoding, NMS inputs, RoIs, normalization, "
              "softmax, the mask sigmoid — are pinned to FP32 (layer precision and output types, "
              "OBEY_PRECISION_CONSTRAINTS), so the per-layer types equal the strongly typed FP16 build's; trtexec "
              "cannot take that list: build with trt-panoptic, or export --fp16 for trtexec --stronglyTyped")
    if precision == "fp16":
        return BuildPlan(
            version, precision, (), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_ANY, trtexec_precision_args=("--fp16",),
            pins_fp32=True,
            notes=("FP16 via BuilderFlag.FP16 from the FP32 ONNX: TensorRT picks FP16 kernels where faster", pinned),
        )
    if calibration_cache:
        return BuildPlan(
            version, precision, (), ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_FP32_FOR_CALIB,
            uses_calibration_cache=True, trtexec_precision_args=("--int8", "--fp16"), pins_fp32=True,
            notes=(
                "INT8, legacy implicit quantization: scales from a calibration cache (deprecated in 10.x, "
                "removed in 11.x; prefer the Q/DQ ONNX)",
                pinned,
            ),
        )
    return BuildPlan(
        version, precision, (), ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_QDQ,
        trtexec_precision_args=("--int8", "--fp16"), pins_fp32=True,
        notes=(
            "INT8 via explicit quantization: the Q/DQ nodes of the ONNX carry the scales; "
            "BuilderFlag.INT8 enables the Q/DQ kernels",
            "BuilderFlag.FP16 as well, so the layers the calibration kept in float may run in FP16",
            pinned,
        ),
    )


def _plan_11(version: TrtVersion, precision: str, calibration_cache: bool) -> BuildPlan:
    if calibration_cache:
        raise TrtPanopticError(
            f"TensorRT {version} has no calibration-cache INT8 (calibrators were removed in 11.x), got --calib-cache "
            "— build from the Q/DQ ONNX: trt-panoptic calibrate ... --out model.int8.onnx"
        )
    typed = ("STRONGLY_TYPED",)
    if precision == "fp32":
        return BuildPlan(
            version, precision, typed, (), ONNX_ANY,
            notes=("11.x networks are strongly typed: tensor types come from the ONNX",),
        )
    if precision == "fp16":
        return BuildPlan(
            version, precision, typed, (), ONNX_FP16_TYPED,
            notes=(
                "11.x removed BuilderFlag.FP16: FP16 comes from the FP16-typed ONNX "
                "(trt-panoptic export --flavor tensorrt --fp16) on a strongly typed network",
            ),
        )
    return BuildPlan(
        version, precision, typed, (), ONNX_QDQ,
        notes=("11.x removed BuilderFlag.INT8 and calibrators: INT8 comes only from the Q/DQ nodes of the ONNX",),
    )
