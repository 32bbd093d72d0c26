"""The torch backend: the eager :class:`PanopticFPN` itself (CPU, or CUDA when asked and present)."""
from __future__ import annotations

import numpy as np
import torch

from trt_panoptic.config import Config
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling import PanopticFPN
from trt_panoptic.postprocess.result import detection_outputs
from trt_panoptic.runtime.base import RawOutputPredictor


def torch_device(device: str) -> torch.device:
    """``device`` ("cpu", "cuda" or "cuda:N") as a torch.device; a one-line error if it is malformed or absent."""
    if device != "cpu" and device != "cuda" and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise TrtPanopticError(f"--device should be cpu, cuda or cuda:N, got {device!r} — e.g. --device cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrtPanopticError(f"--device {device} should name a visible GPU, got none (CPU-only torch or no driver) "
                               "— use --device cpu")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise TrtPanopticError(f"--device {device} should name one of the {torch.cuda.device_count()} visible GPUs "
                               "— e.g. --device cuda:0")
    return torch.device(device)


class TorchPredictor(RawOutputPredictor):
    """Runs ``model`` (eval mode, ``do_postprocess=False``) on each frame; its raw outputs stay on the model's
    device, where the shared decode path runs the panoptic tail once (on a GPU: no mask or fusion work on
    the CPU, and only the id map, the table and the detections cross to the host).

    Args:
        model, cfg: the trained model and its config.
        height, width: letterbox frames to this size first (as the exported backends must); None = run
            each frame at its own size.
        device: "cpu", "cuda" or "cuda:N".
    """

    backend = "torch"

    def __init__(self, model: PanopticFPN, cfg: Config, height: int | None = None, width: int | None = None,
                 device: str = "cpu") -> None:
        super().__init__(cfg, height, width)
        self.device = torch_device(device)
        self.model = model.eval().to(self.device)

    @torch.no_grad()
    def forward(self, image: np.ndarray, valid_hw: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """As the exported graphs: with a size, the frame (``valid_hw``) is cut out of the letterboxed input
        and the model zero-pads it to H×W after normalizing and clips boxes to it."""
        x = torch.from_numpy(image).to(self.device)
        if self.height is None or self.width is None:
            return detection_outputs(self.model(x, do_postprocess=False)[0])
        vh, vw = (int(v) for v in self.full_input(valid_hw)[0])
        out = self.model(x[:, :, :vh, :vw], do_postprocess=False, pad_to=(self.height, self.width))[0]
        return detection_outputs(out)

