"""Load microgen output into other tools: NumPy arrays from TIFF/HDF5, TauFactor's solver, PoreSpy.

python examples/use_with_porespy_taufactor.py [--fast]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import microgen
from microgen.io import read_volume, write_volume


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fast", action="store_true")
    args = p.parse_args()
    size, steps = (32, 10) if args.fast else (128, 100)
    img = microgen.generate_rock(0.2, shape=(size, size), n=1, seed=1, steps=steps)[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_volume(Path(tmp) / "rock.h5", img, metadata={"porosity": 0.2})
        back = read_volume(path)  # plain uint8 NumPy array, 1 = pore
    assert np.array_equal(back, img)
    import taufactor

    solver = taufactor.Solver((back == 1).astype(np.float32)[:, :, None], device="cpu")
    tau = solver.solve(verbose=False)
    print(f"TauFactor: tau = {float(np.ravel(np.asarray(tau))[0]):.3f}, converged = {solver.converged}")
    try:
        import porespy
    except ImportError:
        print("porespy not installed (pip install porespy): skipping its local-thickness example")
        return
    lt = porespy.filters.local_thickness(back == 1)
    print(f"PoreSpy local thickness: mean {lt[back == 1].mean():.2f} voxels")


if __name__ == "__main__":
    main()
