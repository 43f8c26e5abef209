from pathlib import Path

import pytest

from tests.helpers import DATA, tiny_model


@pytest.fixture
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real scans not available: {DATA} is absent (training data lives in ../shared/data)")
    return DATA


@pytest.fixture(scope="module")
def cathode_dir(tmp_path_factory):
    """A saved tiny (untrained) cathode model with a training range, for API-level tests."""
    model = tiny_model(channels=2)
    model.meta.update({"kind": "cathode", "fractions_range": {"active": [0.3, 0.6], "binder": [0.05, 0.2]}})
    return model.save(tmp_path_factory.mktemp("m") / "nmc-tiny")


@pytest.fixture(scope="module")
def rock_dir(tmp_path_factory):
    """A saved tiny (untrained) rock model."""
    model = tiny_model(channels=1)
    model.meta.update({"kind": "rock"})
    return model.save(tmp_path_factory.mktemp("m") / "rock-tiny")
