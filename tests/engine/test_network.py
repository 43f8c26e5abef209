import pytest
import torch
from torch.nn import functional as F

from microgen.engine.network import _CONV, upsample_conv


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("padding", ["circular", "zeros"])
def test_upsampling_convolution_at_low_resolution_is_the_plain_route(ndim, padding):
    """Folding the 3-wide kernel per output parity gives the nearest-upsample-then-convolve
    output and the same gradients for the input and the weights (float64, round-off only)."""
    torch.manual_seed(ndim)
    conv = _CONV[ndim](3, 5, 3, padding=1, padding_mode=padding).double()
    h = torch.randn(2, 3, *([4, 6, 2][:ndim]), dtype=torch.float64, requires_grad=True)
    plain = conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
    folded = upsample_conv(conv, h)
    torch.testing.assert_close(folded, plain, rtol=0, atol=1e-12)
    weights = torch.randn_like(plain)
    grads_plain = torch.autograd.grad((plain * weights).sum(), [h, conv.weight, conv.bias])
    grads_folded = torch.autograd.grad((folded * weights).sum(), [h, conv.weight, conv.bias])
    for a, b in zip(grads_folded, grads_plain):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


def test_upsampling_convolution_sees_across_the_periodic_border_only_when_periodic():
    """A single bright voxel in the last low-resolution row reaches the first output row through
    the circular padding, and only there."""
    for padding, reaches in (("circular", True), ("zeros", False)):
        conv = _CONV[2](1, 1, 3, padding=1, padding_mode=padding, bias=False).double()
        torch.nn.init.ones_(conv.weight)
        h = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
        h[0, 0, 3, 1] = 1.0
        out = upsample_conv(conv, h)
        assert bool(out[0, 0, 0].abs().sum() > 0) is reaches
