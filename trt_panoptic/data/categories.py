"""The category lists a panoptic dataset is read with: which dataset ids are things, which are stuff.

Training targets depend on the *order* of these lists: thing ``i`` is box/mask class ``i`` (0-based) and
stuff ``s`` is semantic channel ``s + 1`` (channel 0 is 'other', every thing pixel). The lists come from a
:class:`~trt_panoptic.config.ModelConfig` (what the model predicts) or from the ``categories`` of a COCO
panoptic JSON (what a dataset contains, e.g. the 133 COCO classes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from trt_panoptic.errors import TrtPanopticError


@dataclass(frozen=True)
class PanopticCategories:
    """Thing and stuff classes with their dataset category ids (COCO panoptic ``category_id``).

    Attributes:
        thing_ids / thing_names: dataset ids and names of the thing classes, in model order.
        stuff_ids / stuff_names: dataset ids and names of the stuff classes, in model order.
        colors: optional display colour (RGB) per dataset id.
    """

    thing_ids: tuple[int, ...]
    thing_names: tuple[str, ...]
    stuff_ids: tuple[int, ...]
    stuff_names: tuple[str, ...]
    colors: dict[int, tuple[int, int, int]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        assert len(self.thing_ids) == len(self.thing_names), "data.categories: one name per thing id"
        assert len(self.stuff_ids) == len(self.stuff_names), "data.categories: one name per stuff id"
        ids = list(self.thing_ids) + list(self.stuff_ids)
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise TrtPanopticError(f"category ids should be unique across things and stuff, got duplicates {dup} — fix the category lists")

    @classmethod
    def from_model_config(cls, model: Any) -> "PanopticCategories":
        """From a :class:`~trt_panoptic.config.ModelConfig`; empty ``thing_ids``/``stuff_ids`` mean 1..N in name order."""
        n_th, n_st = len(model.thing_classes), len(model.stuff_classes)
        thing_ids = list(model.thing_ids) or list(range(1, n_th + 1))
        stuff_ids = list(model.stuff_ids) or list(range(n_th + 1, n_th + n_st + 1))
        return cls(tuple(thing_ids), tuple(model.thing_classes), tuple(stuff_ids), tuple(model.stuff_classes))

    @classmethod
    def from_coco(cls, categories: Iterable[dict]) -> "PanopticCategories":
        """From the ``categories`` list of a COCO panoptic JSON (``id``, ``name``, ``isthing``, optional ``color``)."""
        things, stuff, colors = [], [], {}
        for i, cat in enumerate(categories):
            try:
                cid, name, isthing = int(cat["id"]), str(cat["name"]), int(cat["isthing"])
            except (KeyError, TypeError, ValueError):
                raise TrtPanopticError(
                    f"categories[{i}] should have 'id', 'name' and 'isthing', got {cat!r} — fix the panoptic JSON"
                ) from None
            (things if isthing == 1 else stuff).append((cid, name))
            if "color" in cat:
                colors[cid] = tuple(int(c) for c in cat["color"])
        if not things and not stuff:
            raise TrtPanopticError("categories should be a non-empty list, got none — fix the panoptic JSON")
        return cls(
            tuple(c for c, _ in things), tuple(n for _, n in things),
            tuple(c for c, _ in stuff), tuple(n for _, n in stuff), colors,
        )

    @property
    def num_things(self) -> int:
        return len(self.thing_ids)

    @property
    def num_stuff(self) -> int:
        return len(self.stuff_ids)

    def thing_index(self) -> dict[int, int]:
        """Dataset id → 0-based thing class."""
        return {cid: i for i, cid in enumerate(self.thing_ids)}

    def stuff_channel(self) -> dict[int, int]:
        """Dataset id → semantic channel 1..S (0 is 'other')."""
        return {cid: i + 1 for i, cid in enumerate(self.stuff_ids)}

    def is_thing(self, category_id: int) -> bool:
        return category_id in self.thing_ids

    def to_coco(self) -> list[dict]:
        """The COCO panoptic ``categories`` list (things first), with a colour per class."""
        out = []
        for ids, names, isthing in ((self.thing_ids, self.thing_names, 1), (self.stuff_ids, self.stuff_names, 0)):
            for cid, name in zip(ids, names):
                color = self.colors.get(cid, _default_color(cid))
                out.append({"id": cid, "name": name, "isthing": isthing, "color": list(color)})
        return out


def _default_color(category_id: int) -> tuple[int, int, int]:
    # A fixed, well-spread colour per id (golden-ratio hue steps) so renders are stable across runs.
    import colorsys

    h = (category_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)
