"""The training loop: ``train(cfg, out)`` — what ``trt-panoptic train`` runs, in one or many processes.

One iteration: the next batch of the deterministic :class:`~trt_panoptic.training.stream.BatchStream`,
the model's weighted loss dict, one SGD step (learning rate from
:func:`~trt_panoptic.training.solver.lr_factor`, gradients clipped to ``clip_grad_norm``, AMP with a
grad scaler on CUDA). Every ``log_period`` iterations a JSON line goes to ``out/log.jsonl``; every
``checkpoint_period`` a model/state pair is saved (:mod:`~trt_panoptic.training.checkpointer`); every
``eval_period`` the model is scored on (a subset of) the validation set. ``out/model_final.pt`` is the
weights-only model at the end.

Exact resume: the data of iteration ``i``, the learning rate at ``i`` and every rank's RNG state at a
checkpoint are restored, so a resumed run computes the same losses as an uninterrupted one (on the same
hardware, thread count and world size).
"""
from __future__ import annotations

import copy
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from trt_panoptic.config import Config
from trt_panoptic.atomic_io import atomic_write_text
from trt_panoptic.data.categories import PanopticCategories
from trt_panoptic.data.coco_panoptic import PanopticRecord
from trt_panoptic.data.dataset import PanopticDataset
from trt_panoptic.data.transforms import build_train_transforms
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling import build_model
from trt_panoptic.modeling.checkpoint import save_checkpoint
from trt_panoptic.training import distributed as D
from trt_panoptic.training.checkpointer import (
    last_checkpoint,
    load_training_checkpoint,
    rng_state,
    save_training_checkpoint,
    set_rng_state,
)
from trt_panoptic.evaluation import evaluate_predictor
from trt_panoptic.training.evaluate import ModelPredictor
from trt_panoptic.training.solver import build_optimizer, check_schedule, lr_factor, set_lr
from trt_panoptic.training.stream import BatchStream

logger = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"
FINAL = "model_final.pt"
_OWN_FILES = ("config.yaml", LOG_FILE, FINAL, "last_checkpoint", "metrics.json")


@dataclass
class TrainResult:
    """What :func:`train` did: iterations run, the trained model (unwrapped from DDP), final weights file
    (rank 0), last eval metrics, wall time (s) and this process's per-iteration losses."""

    start_iter: int
    max_iter: int
    model: nn.Module
    final_weights: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    losses: list[dict[str, float]] = field(default_factory=list)


def prepare_output_dir(out: Path, resume: bool, force: bool) -> None:
    """Refuse to write into a non-empty ``out`` unless resuming (keep it) or forced (empty it first)."""
    if out.exists() and not out.is_dir():
        raise TrtPanopticError(f"--out should be a folder, got the file {out} — choose another path")
    if out.is_dir() and any(out.iterdir()) and not resume:
        if not force:
            raise TrtPanopticError(f"--out {out} is not empty — pass --resume to continue that run or --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _to_device(sample: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    target = {k: sample[k].to(device, non_blocking=True) for k in ("sem_seg", "boxes", "classes", "masks")}
    return sample["image"].to(device, non_blocking=True), target


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def _trim_log(path: Path, start_iter: int) -> None:
    """On resume, drop log lines of iterations after the checkpoint (they will be run again) and old end records."""
    if not path.is_file():
        return
    records = [(line, json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    keep = [line for line, r in records if r.get("iter", 0) <= start_iter and not r.get("done")]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def _check_data(cfg: Config) -> None:
    if not cfg.data.train:
        raise TrtPanopticError("data.train should name a COCO panoptic folder, got nothing — set it in the config "
                               "(make one with `trt-panoptic data synth`)")
    if cfg.data.val and not (Path(cfg.data.val) / "panoptic.json").is_file() \
            and not Path(cfg.data.val).is_file():
        # Checked up front: otherwise a wrong val path surfaces only at the first periodic evaluation.
        raise TrtPanopticError(f"data.val should be a COCO panoptic folder, got {cfg.data.val!r} (no panoptic.json) — "
                               "pass --val-data DIR (make one with `trt-panoptic data synth`)")
    t = cfg.train
    if t.ims_per_batch < 1:
        raise TrtPanopticError(f"train.ims_per_batch should be ≥ 1, got {t.ims_per_batch} — fix the config")


def train(
    cfg: Config,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    device: str = "auto",
    progress: bool = True,
    num_threads: int | None = None,
) -> TrainResult:
    """Train ``build_model(cfg)`` on ``cfg.data.train``; write checkpoints and logs to ``out``.

    Call it in every process of a ``torchrun`` launch (it joins the process group itself). Only rank 0
    writes files, logs and evaluates.

    Args:
        cfg: the full config (model, data, train).
        out: output folder. A non-empty one needs ``resume`` (continue from its last checkpoint) or
            ``force`` (delete it and start over).
        device: "auto", "cpu" or "cuda".
        num_threads: torch intra-op threads (None = leave torch's default).

    Returns:
        a :class:`TrainResult` (on every rank; ``losses`` holds the per-iteration loss dicts of this process).

    Raises:
        TrtPanopticError: bad config, missing data, non-empty ``out``, a non-finite loss.
    """
    t_start = time.perf_counter()
    if num_threads:
        torch.set_num_threads(num_threads)
    tc = cfg.train
    check_schedule(tc)
    _check_data(cfg)
    out = Path(out)
    info = D.init_distributed(device)
    try:
        if tc.ims_per_batch % info.world_size:
            raise TrtPanopticError(
                f"train.ims_per_batch should be divisible by the {info.world_size} processes, got {tc.ims_per_batch} — change either"
            )
        if info.is_main:
            prepare_output_dir(out, resume, force)
        D.barrier(info)
        return _run(cfg, out, info, resume=resume, progress=progress, t_start=t_start)
    finally:
        D.shutdown(info)


def _with_input_size(cfg: Config, records: list[PanopticRecord]) -> Config:
    """``cfg`` recording the size the model is made for: the training images' most common H×W, rounded up
    to the size divisibility (what the exporting backends will run at); unchanged if the JSON has no sizes."""
    sizes = Counter((r.height, r.width) for r in records if r.height > 0 and r.width > 0)
    if not sizes:
        logger.info("model.input.size not recorded: the training JSON gives no image sizes")
        return cfg
    div = max(cfg.model.input.size_divisibility, 1)
    (h, w), _ = sizes.most_common(1)[0]
    size = [-(-h // div) * div, -(-w // div) * div]
    logger.info("model.input.size: %dx%d recorded (the training images are %dx%d) — the default input of exported models",
                size[0], size[1], h, w)
    out = copy.deepcopy(cfg)
    out.model.input.size = size
    return out


def _run(cfg: Config, out: Path, info: D.DistInfo, *, resume: bool, progress: bool, t_start: float) -> TrainResult:
    from tqdm import tqdm

    tc = cfg.train
    categories = PanopticCategories.from_model_config(cfg.model)
    dataset = PanopticDataset(cfg.data.train, categories=categories, transforms=build_train_transforms(tc), seed=tc.seed)
    if not cfg.model.input.size:
        cfg = _with_input_size(cfg, dataset.data.records)

    torch.manual_seed(tc.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(cfg).to(info.device).train()
    optimizer = build_optimizer(model, tc)
    use_amp = bool(tc.amp) and info.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start_iter = 0
    if resume:
        found = last_checkpoint(out)
        if found is None:
            logger.info("--resume: no checkpoint in %s, starting from scratch", out)
        else:
            if found > tc.max_iter:
                raise TrtPanopticError(
                    f"train.max_iter should be at least the checkpoint's iteration {found} to resume, got {tc.max_iter} — "
                    "raise --max-iter (or train afresh in another --out)"
                )
            state = load_training_checkpoint(out, found, model, optimizer)
            start_iter = found
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            rngs = state.get("rng") or []
            if len(rngs) == info.world_size:
                set_rng_state(rngs[info.rank], info.device)
            else:
                logger.warning("checkpoint has RNG states of %d processes, this run has %d: RNG reseeded, resume is not exact",
                               len(rngs), info.world_size)
                torch.manual_seed(tc.seed + 1000 * start_iter + info.rank)
            logger.info("resumed from %s at iteration %d", out, start_iter)
    if start_iter == 0:
        torch.manual_seed(tc.seed + 1 + info.rank)  # RoI/anchor sampling differs per rank

    if info.is_main:
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        if resume:
            _trim_log(out / LOG_FILE, start_iter)

    ddp_model: nn.Module = model
    if info.initialized:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[info.device.index] if info.device.type == "cuda" else None
        )

    stream = BatchStream(dataset, seed=tc.seed, ims_per_batch=tc.ims_per_batch, start_iter=start_iter,
                         max_iter=tc.max_iter, rank=info.rank, world_size=info.world_size)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, shuffle=False, num_workers=tc.num_workers,
                                         collate_fn=_identity, persistent_workers=False,
                                         # its own generator: creating the iterator must not draw from the global
                                         # RNG, whose state a resume restores exactly
                                         generator=torch.Generator().manual_seed(tc.seed))
    bar = tqdm(total=tc.max_iter, initial=start_iter, desc="train", unit="it", disable=not (progress and info.is_main),
               mininterval=5.0, dynamic_ncols=True)
    result = TrainResult(start_iter=start_iter, max_iter=tc.max_iter, model=model, final_weights=None)
    params = [p for p in model.parameters() if p.requires_grad]
    window: list[dict[str, float]] = []
    t_data = time.perf_counter()
    iteration = start_iter
    for iteration, batch in enumerate(loader, start=start_iter):
        data_s = time.perf_counter() - t_data
        lr = tc.base_lr * lr_factor(iteration, tc)
        set_lr(optimizer, lr)
        images, targets = zip(*(_to_device(s, info.device) for s in batch))
        with torch.autocast(device_type=info.device.type, dtype=torch.float16, enabled=use_amp):
            loss_dict = ddp_model(list(images), list(targets))
        total = sum(loss_dict.values())
        if not torch.isfinite(total):
            raise TrtPanopticError(
                f"the loss became {float(total.detach())} at iteration {iteration} ({_fmt(loss_dict)}) — lower train.base_lr "
                "or set train.clip_grad_norm"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        grad_norm = float("nan")
        if tc.clip_grad_norm > 0:
            scaler.unscale_(optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, tc.clip_grad_norm))
        scaler.step(optimizer)
        scaler.update()

        done = iteration + 1
        values = {k: float(v.detach()) for k, v in loss_dict.items()}
        values["total"] = float(total.detach())
        result.losses.append(dict(values))
        window.append(values)
        bar.update(1)
        if done % max(tc.log_period, 1) == 0 or done == tc.max_iter:
            mean = {k: sum(w[k] for w in window) / len(window) for k in window[0]}
            mean = D.reduce_mean(mean, info)
            window.clear()
            if info.is_main:
                elapsed = time.perf_counter() - t_start
                record = {"iter": done, "lr": lr, "loss": mean.pop("total"), "losses": mean, "grad_norm": grad_norm,
                          "data_s": data_s, "time_s": elapsed, "images_per_s": _rate(bar, tc.ims_per_batch)}
                _append_jsonl(out / LOG_FILE, record)
                bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.4g}")
        if tc.checkpoint_period > 0 and done % tc.checkpoint_period == 0 and done < tc.max_iter:
            _checkpoint(out, done, model, cfg, optimizer, scaler, info)
        if tc.eval_period > 0 and done % tc.eval_period == 0 and done < tc.max_iter:
            _periodic_eval(out, done, model, cfg, categories, info, progress)
        t_data = time.perf_counter()
    bar.close()

    if tc.max_iter > start_iter:
        _checkpoint(out, tc.max_iter, model, cfg, optimizer, scaler, info)
    if info.is_main:
        result.final_weights = save_checkpoint(out / FINAL, model, cfg, {"iteration": tc.max_iter})
    train_s = time.perf_counter() - t_start
    if cfg.data.val:
        result.metrics = _periodic_eval(out, tc.max_iter, model, cfg, categories, info, progress)
    result.wall_s = time.perf_counter() - t_start
    if info.is_main:
        _append_jsonl(out / LOG_FILE, {"iter": tc.max_iter, "done": True, "train_s": train_s, "wall_s": result.wall_s,
                                       "start_iter": start_iter, "world_size": info.world_size,
                                       "threads": torch.get_num_threads()})
    return result


def _identity(batch: Any) -> Any:  # module level so DataLoader workers can pickle it
    return batch


def _rate(bar: Any, ims_per_batch: int) -> float | None:
    rate = bar.format_dict.get("rate")
    return rate * ims_per_batch if rate else None


def _fmt(losses: dict[str, torch.Tensor]) -> str:
    return ", ".join(f"{k} {float(v.detach()):.3g}" for k, v in losses.items())


def _checkpoint(out: Path, iteration: int, model: nn.Module, cfg: Config, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, info: D.DistInfo) -> None:
    rngs = D.all_gather_object(rng_state(info.device), info)
    if info.is_main:
        save_training_checkpoint(out, iteration, model, cfg, optimizer, scaler.state_dict() if scaler.is_enabled() else {}, rngs)
        logger.info("checkpoint at iteration %d", iteration)
    D.barrier(info)


def _periodic_eval(out: Path, iteration: int, model: nn.Module, cfg: Config, categories: PanopticCategories,
                   info: D.DistInfo, progress: bool) -> dict[str, Any]:
    """Score the model on the validation set (rank 0; the others wait). Logged as an ``eval`` JSON line."""
    metrics: dict[str, Any] = {}
    if info.is_main and cfg.data.val:
        # Evaluation draws no random numbers, but keep the RNG untouched anyway: resumed runs must match.
        state = rng_state(info.device)
        predictor = ModelPredictor(model, cfg.model.thing_classes, cfg.model.stuff_classes, info.device)
        metrics = evaluate_predictor(predictor, cfg.data.val, categories=categories,
                                     limit=cfg.train.eval_max_images or None, progress=progress)
        set_rng_state(state, info.device)
        summary = {k: metrics[k] for k in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU", "num_images")}
        _append_jsonl(out / LOG_FILE, {"iter": iteration, "eval": summary})
        logger.info("iteration %d: PQ %.1f (things %.1f, stuff %.1f), mIoU %.1f on %d val images", iteration,
                    summary["PQ"], summary["PQ_th"], summary["PQ_st"], summary["mIoU"], summary["num_images"])
    D.barrier(info)
    return metrics
