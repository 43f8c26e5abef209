import numpy as np
import pytest
from scipy.linalg import expm

from microgen.engine import kernels
from microgen.engine.lattice import Lattice


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
@pytest.mark.parametrize("n", [2, 5, 8])
@pytest.mark.parametrize("rt", [(1.0, 1e-4), (3.0, 0.05), (10.0, 0.7), (250.0, 1.0)])
def test_1d_kernel_matches_expm(boundary, n, rt):
    r, t = rt
    dense = expm(kernels.generator_matrix(n, r, boundary) * t)
    ours = kernels.transition_matrix(n, r, t, boundary)
    np.testing.assert_allclose(ours, dense, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(ours.sum(0), 1.0, rtol=1e-12)


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_product_kernel_matches_dense_expm_in_2d_and_3d(boundary, shape):
    r, t = 2.0, 0.3
    lat = Lattice(shape, boundary)
    size = lat.size
    gen = np.zeros((size, size))
    coords = np.array(np.unravel_index(np.arange(size), shape)).T
    for i, x in enumerate(coords):
        for axis, sign in lat.directions:
            y = x.copy()
            y[axis] += sign
            if boundary == "periodic":
                y[axis] %= shape[axis]
            elif not 0 <= y[axis] < shape[axis]:
                continue
            j = np.ravel_multi_index(tuple(y), shape)
            gen[j, i] += r
            gen[i, i] -= r
    dense = expm(gen * t)
    per_axis = [kernels.transition_matrix(n, r, t, boundary) for n in shape]
    ours = np.ones((size, size))
    for axis, mat in enumerate(per_axis):
        ours *= mat[coords[:, axis][:, None], coords[:, axis][None, :]]
    np.testing.assert_allclose(ours, dense, rtol=1e-9, atol=1e-13)


def test_tiny_time_tail_keeps_relative_precision():
    # q_t(n) ~ (rt)^n / n! for tiny rt: the ratio of neighbours must be exact, not noise
    r, t = 250.0, 1e-9
    q = kernels.free_kernel(r, t)
    m = (q.size - 1) // 2
    rt = r * t
    for n in range(1, 8):
        np.testing.assert_allclose(q[m + n] / q[m + n - 1], rt / n, rtol=1e-6)


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
def test_mixing_rate_leaves_the_requested_residual(boundary):
    # at t = 1 the slowest mode has amplitude `residual`: max |p - 1/n| = 2 * residual / n
    n, residual = 64, 0.05
    r = kernels.mixing_rate(n, boundary, residual=residual)
    p = kernels.transition_matrix(n, r, 1.0, boundary)
    np.testing.assert_allclose(np.abs(p - 1.0 / n).max() * n, 2 * residual, rtol=0.01)


def test_bad_arguments():
    with pytest.raises(ValueError, match="periodic"):
        kernels.transition_matrix(4, 1.0, 0.1, "reflecting")
    with pytest.raises(ValueError, match="positive"):
        kernels.free_kernel(-1.0, 0.1)
    with pytest.raises(ValueError, match=">= 0"):
        kernels.free_kernel(1.0, -0.1)
