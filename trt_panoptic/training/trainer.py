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
from trt_panoptic.atomic_io import atomic_write_text, check_writable_dir
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
    check_writable_dir(out, "--out")


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


@dataclass
class _Run:
    """What the steps of one training run share: built once by :func:`_run`, then only read."""

    cfg: Config
    out: Path
    info: D.DistInfo
    categories: PanopticCategories
    model: nn.Module
    ddp_model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    use_amp: bool
    params: list[nn.Parameter]
    progress: bool
    t_start: float


@dataclass
class _Step:
    """One iteration's outcome: its float losses (``total`` included), learning rate and gradient norm
    (NaN when not clipped)."""

    losses: dict[str, float]
    lr: float
    grad_norm: float


def _run(cfg: Config, out: Path, info: D.DistInfo, *, resume: bool, progress: bool, t_start: float) -> TrainResult:
    tc = cfg.train
    categories = PanopticCategories.from_model_config(cfg.model)
    dataset = PanopticDataset(cfg.data.train, categories=categories, transforms=build_train_transforms(tc), seed=tc.seed,
                              input_format=cfg.model.input.format)
    if not cfg.model.input.size:
        cfg = _with_input_size(cfg, dataset.data.records)
    model, optimizer, scaler, use_amp = _build_model_and_optimizer(cfg, info)
    start_iter = _resume_or_seed(out, cfg, info, model, optimizer, scaler) if resume else 0
    if start_iter == 0:
        torch.manual_seed(tc.seed + 1 + info.rank)  # RoI/anchor sampling differs per rank
    if info.is_main:
        _write_run_files(out, cfg, resume=resume, start_iter=start_iter)
    run = _Run(cfg=cfg, out=out, info=info, categories=categories, model=model, ddp_model=_wrap_ddp(model, info),
               optimizer=optimizer, scaler=scaler, use_amp=use_amp,
               params=[p for p in model.parameters() if p.requires_grad], progress=progress, t_start=t_start)
    result = TrainResult(start_iter=start_iter, max_iter=tc.max_iter, model=model, final_weights=None)
    _train_loop(run, _make_loader(dataset, cfg, info, start_iter), result)
    return _finish(run, result)


def _build_model_and_optimizer(
    cfg: Config, info: D.DistInfo
) -> tuple[nn.Module, torch.optim.Optimizer, torch.amp.GradScaler, bool]:
    """The model in train mode on the device, its optimizer, the AMP grad scaler and whether AMP is on."""
    tc = cfg.train
    torch.manual_seed(tc.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(cfg).to(info.device).train()
    optimizer = build_optimizer(model, tc)
    use_amp = bool(tc.amp) and info.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    return model, optimizer, scaler, use_amp


def _resume_or_seed(out: Path, cfg: Config, info: D.DistInfo, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler) -> int:
    """Load ``out``'s last checkpoint into model, optimizer, scaler and this rank's RNG; return its iteration
    (0 when there is none)."""
    tc = cfg.train
    found = last_checkpoint(out)
    if found is None:
        logger.info("--resume: no checkpoint in %s, starting from scratch", out)
        return 0
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
    return start_iter


def _write_run_files(out: Path, cfg: Config, *, resume: bool, start_iter: int) -> None:
    """Rank 0: write the run's ``config.yaml``; on resume, drop the log lines past ``start_iter``."""
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    if resume:
        _trim_log(out / LOG_FILE, start_iter)


def _wrap_ddp(model: nn.Module, info: D.DistInfo) -> nn.Module:
    """``model`` in DistributedDataParallel when a process group is up, else ``model`` itself."""
    if not info.initialized:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[info.device.index] if info.device.type == "cuda" else None)


def _make_loader(dataset: PanopticDataset, cfg: Config, info: D.DistInfo, start_iter: int) -> torch.utils.data.DataLoader:
    """The batches of iterations ``start_iter``..``max_iter - 1`` for this rank, in the deterministic stream order."""
    tc = cfg.train
    stream = BatchStream(dataset, seed=tc.seed, ims_per_batch=tc.ims_per_batch, start_iter=start_iter,
                         max_iter=tc.max_iter, rank=info.rank, world_size=info.world_size)
    return torch.utils.data.DataLoader(stream, batch_size=None, shuffle=False, num_workers=tc.num_workers,
                                       collate_fn=_identity, persistent_workers=False,
                                       # its own generator: creating the iterator must not draw from the global
                                       # RNG, whose state a resume restores exactly
                                       generator=torch.Generator().manual_seed(tc.seed))


def _train_loop(run: _Run, loader: torch.utils.data.DataLoader, result: TrainResult) -> None:
    """Run every remaining iteration: one step, then the periodic log line, checkpoint and evaluation."""
    from tqdm import tqdm

    tc = run.cfg.train
    bar = tqdm(total=tc.max_iter, initial=result.start_iter, desc="train", unit="it",
               disable=not (run.progress and run.info.is_main), mininterval=5.0, dynamic_ncols=True)
    window: list[dict[str, float]] = []
    t_data = time.perf_counter()
    for iteration, batch in enumerate(loader, start=result.start_iter):
        data_s = time.perf_counter() - t_data
        step = _train_step(run, iteration, batch)
        done = iteration + 1
        result.losses.append(dict(step.losses))
        window.append(step.losses)
        bar.update(1)
        if done % max(tc.log_period, 1) == 0 or done == tc.max_iter:
            _log_window(run, done, step, window, data_s, bar)
        _periodic(run, done)
        t_data = time.perf_counter()
    bar.close()


def _train_step(run: _Run, iteration: int, batch: list[dict[str, Any]]) -> _Step:
    """One SGD step on ``batch``: set the learning rate, forward (AMP on CUDA), check the loss is finite,
    backward, clip gradients if configured, optimizer and scaler step."""
    tc = run.cfg.train
    lr = tc.base_lr * lr_factor(iteration, tc)
    set_lr(run.optimizer, lr)
    images, targets = zip(*(_to_device(s, run.info.device) for s in batch))
    with torch.autocast(device_type=run.info.device.type, dtype=torch.float16, enabled=run.use_amp):
        loss_dict = run.ddp_model(list(images), list(targets))
    total = sum(loss_dict.values())
    if not torch.isfinite(total):
        raise TrtPanopticError(
            f"the loss became {float(total.detach())} at iteration {iteration} ({_fmt(loss_dict)}) — lower train.base_lr "
            "or set train.clip_grad_norm"
        )
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(total).backward()
    grad_norm = float("nan")
    if tc.clip_grad_norm > 0:
        run.scaler.unscale_(run.optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(run.params, tc.clip_grad_norm))
    run.scaler.step(run.optimizer)
    run.scaler.update()
    values = {k: float(v.detach()) for k, v in loss_dict.items()}
    values["total"] = float(total.detach())
    return _Step(losses=values, lr=lr, grad_norm=grad_norm)


def _log_window(run: _Run, done: int, step: _Step, window: list[dict[str, float]], data_s: float, bar: Any) -> None:
    """Average the losses of the iterations since the last log line over ``window`` and all ranks (then empty
    it); rank 0 appends the JSON line to ``log.jsonl`` and shows the loss on the progress bar."""
    mean = {k: sum(w[k] for w in window) / len(window) for k in window[0]}
    mean = D.reduce_mean(mean, run.info)
    window.clear()
    if run.info.is_main:
        elapsed = time.perf_counter() - run.t_start
        record = {"iter": done, "lr": step.lr, "loss": mean.pop("total"), "losses": mean, "grad_norm": step.grad_norm,
                  "data_s": data_s, "time_s": elapsed, "images_per_s": _rate(bar, run.cfg.train.ims_per_batch)}
        _append_jsonl(run.out / LOG_FILE, record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{step.lr:.4g}")


def _periodic(run: _Run, done: int) -> None:
    """After iteration ``done`` (1-based): the periodic checkpoint and evaluation, if due (never at the last one:
    :func:`_finish` does those)."""
    tc = run.cfg.train
    if tc.checkpoint_period > 0 and done % tc.checkpoint_period == 0 and done < tc.max_iter:
        _checkpoint(run.out, done, run.model, run.cfg, run.optimizer, run.scaler, run.info)
    if tc.eval_period > 0 and done % tc.eval_period == 0 and done < tc.max_iter:
        _periodic_eval(run.out, done, run.model, run.cfg, run.categories, run.info, run.progress)


def _finish(run: _Run, result: TrainResult) -> TrainResult:
    """The final checkpoint (when any iteration ran), ``model_final.pt`` (rank 0), the final evaluation when
    there is validation data, and the ``done`` line of ``log.jsonl``; fills ``result``'s weights, metrics and time."""
    tc, info, out = run.cfg.train, run.info, run.out
    if tc.max_iter > result.start_iter:
        _checkpoint(out, tc.max_iter, run.model, run.cfg, run.optimizer, run.scaler, info)
    if info.is_main:
        result.final_weights = save_checkpoint(out / FINAL, run.model, run.cfg, {"iteration": tc.max_iter})
    train_s = time.perf_counter() - run.t_start
    if run.cfg.data.val:
        result.metrics = _periodic_eval(out, tc.max_iter, run.model, run.cfg, run.categories, info, run.progress)
    result.wall_s = time.perf_counter() - run.t_start
    if info.is_main:
        _append_jsonl(out / LOG_FILE, {"iter": tc.max_iter, "done": True, "train_s": train_s, "wall_s": result.wall_s,
                                       "start_iter": result.start_iter, "world_size": info.world_size,
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
        predictor = ModelPredictor(model, cfg.model.thing_classes, cfg.model.stuff_classes, info.device,
                                   thing_ids=cfg.model.thing_ids, stuff_ids=cfg.model.stuff_ids)
        metrics = evaluate_predictor(predictor, cfg.data.val, categories=categories,
                                     limit=cfg.train.eval_max_images or None, progress=progress)
        set_rng_state(state, info.device)
        summary = {k: metrics[k] for k in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU", "num_images")}
        _append_jsonl(out / LOG_FILE, {"iter": iteration, "eval": summary})
        logger.info("iteration %d: PQ %.1f (things %.1f, stuff %.1f), mIoU %.1f on %d val images", iteration,
                    summary["PQ"], summary["PQ_th"], summary["PQ_st"], summary["mIoU"], summary["num_images"])
    D.barrier(info)
    return metrics
