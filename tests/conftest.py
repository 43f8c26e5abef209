from pathlib import Path

import pytest

from tests.helpers import DATA


@pytest.fixture
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real scans not available: {DATA} is absent (training data lives in ../shared/data)")
    return DATA
