"""Normalization layers against a float64 hand computation."""
import torch

from trt_panoptic.modeling.layers import FrozenBatchNorm2d


def frozen_bn(channels: int = 8, seed: int = 0) -> FrozenBatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    bn = FrozenBatchNorm2d(channels)
    for name in ("weight", "bias", "running_mean"):
        getattr(bn, name).copy_(torch.randn(channels, generator=g))
    bn.running_var.copy_(torch.rand(channels, generator=g) + 0.1)
    return bn


def reference(bn: FrozenBatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    v = lambda t: t.double().view(1, -1, 1, 1)  # noqa: E731
    return (x.double() - v(bn.running_mean)) / (v(bn.running_var) + bn.eps).sqrt() * v(bn.weight) + v(bn.bias)


def test_frozen_bn_inference_and_training_paths_equal_the_float64_formula():
    bn = frozen_bn()
    x = torch.randn(2, 8, 5, 7, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        fused = bn(x)  # inference: one batch_norm kernel
    torch.testing.assert_close(fused.double(), reference(bn, x), rtol=1e-5, atol=1e-5)
    xg = x.clone().requires_grad_(True)
    out = bn(xg)  # through autograd: the explicit affine, gradients reach the input
    torch.testing.assert_close(out.detach().double(), reference(bn, x), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).view(1, -1, 1, 1).expand_as(x)
    torch.testing.assert_close(xg.grad, scale)
    assert all(not p.requires_grad for p in bn.buffers())


def test_frozen_bn_stays_an_explicit_affine_in_the_exported_graph(tmp_path):
    import onnx

    bn = frozen_bn().eval()
    torch.onnx.export(bn, (torch.randn(1, 8, 4, 4),), tmp_path / "bn.onnx", dynamo=False)
    ops = [n.op_type for n in onnx.load(tmp_path / "bn.onnx").graph.node]
    assert "BatchNormalization" not in ops and "Mul" in ops and "Add" in ops
