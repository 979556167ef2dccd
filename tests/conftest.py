"""Shared test set-up: TensorFlow quiet and deterministic, paths to ../shared (present beside the clone in CI)."""
import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
# tests/ and tests/families/<f>/ are folders of modules, not packages: test helpers import by plain name (basenames
# are unique). A family's own tests live in tests/families/<family>/; tests over every registered model at the top.
# Nothing here imports from experiments/ (scripts that print tables; a test runs one as a subprocess).
FAMILY_TESTS = sorted(p for p in (REPO / "tests" / "families").iterdir() if p.is_dir())
for _folder in (REPO / "tests", *FAMILY_TESTS):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
SHARED = REPO.parent / "shared"
SAMPLE_TRAIN = SHARED / "data" / "side_by_side_small" / "train"


@pytest.fixture
def sample_train_dir():
    """The 604 real side-by-side JPEGs; skipped (with the reason) only where ../shared is absent."""
    if not SAMPLE_TRAIN.is_dir():
        pytest.skip(f"real sample set not found at {SAMPLE_TRAIN}")
    return SAMPLE_TRAIN
