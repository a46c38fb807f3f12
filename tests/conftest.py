"""Shared fixtures. Every fixture is generated in the real on-disk format of its dataset."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

if os.environ.get("ZOO_DATA"):  # CI passes a relative path; tests that change directory need it absolute
    os.environ["ZOO_DATA"] = str(Path(os.environ["ZOO_DATA"]).resolve())
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def emoset_root(tmp_path_factory) -> Path:
    """A small EmoSet-layout dataset (8 emotions x 3/1/1 images of 40 px)."""
    from zoo.data.datasets.emoset_sample import make_emoset_sample

    return make_emoset_sample(tmp_path_factory.mktemp("emoset"), per_split=(3, 1, 1), size=40, seed=1)


@pytest.fixture
def zoo_data() -> Path:
    """The shared real datasets (``$ZOO_DATA``); tests using it skip with a reason when it is absent."""
    root = os.environ.get("ZOO_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("real-data test: set ZOO_DATA to the shared datasets folder (.ci/run sets ../shared/datasets)")
    return Path(root)
