"""Shared fixtures: a tiny random BERT built offline, fixture data, paths to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TWEETEVAL = SHARED_DATA / "tweeteval-sentiment"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tweeteval_dir() -> Path:
    if not (TWEETEVAL / "val_text.txt").is_file():
        pytest.skip(f"TweetEval files not found at {TWEETEVAL}")
    return TWEETEVAL


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer random BERT + WordPiece tokenizer in save_pretrained layout (3 labels)."""
    from tests.fixtures.make_tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_rows():
    """300 learnable synthetic rows (text, label name), balanced over 3 labels."""
    from tests.fixtures.make_tiny import make_rows

    return make_rows(300)
