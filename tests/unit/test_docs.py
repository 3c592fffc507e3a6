"""The docs site: `mkdocs build --strict` (a broken link, anchor or missing page fails), the
generated CLI reference is current, README stays short, and every fenced bash block of Getting
started runs as written, in a copy of the project whose quickstart configs point at the tests'
tiny model (the demo's MiniLM is too slow for the suite)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_dl.cli import click_command
from mlops_dl.cli.reference import END, START, render

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
BASH = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs / mkdocs-material missing (the dev extra installs them)")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                         capture_output=True, text=True, timeout=180,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "getting-started" / "index.html").is_file()
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    listed = re.findall(r"[\w-]+\.md", str(nav))
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert sorted(listed) == pages, "every page is in the nav, every nav entry is a page"


def test_cli_reference_is_the_rendering_of_the_app():
    page = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    assert page.split(START, 1)[1].split(END, 1)[0].lstrip("\n") == render(click_command()), (
        "docs/cli-reference.md is stale: run `python scripts/cli_reference.py --write`")
    assert "### `mlops-dl runs list`" in page and "`--sort`" in page


def test_readme_is_short_and_links_into_the_docs():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    links = re.findall(r"\]\((docs/[\w-]+\.md)\)", text)
    assert "docs/getting-started.md" in links
    assert all((REPO / link).is_file() for link in links), links


def _sandbox(tmp: Path, model_dir: Path) -> Path:
    """The project's configs and defaults, the quickstart pointed at the tiny model and the
    tests' 600 synthetic rows, small budgets, lenient gates (the tiny model is no tweet model)."""
    import pandas as pd

    from tests.fixtures.make_tiny import make_rows

    root = tmp / "project"
    (root / "configs").mkdir(parents=True)
    shutil.copy(REPO / "mlops-dl.yaml", root / "mlops-dl.yaml")
    pd.DataFrame(make_rows(600), columns=["text", "sentiment"]).to_csv(root / "tiny-tweets.csv", index=False)
    cfg = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    cfg["data"]["sources"] = [{"kind": "file", "path": str(root / "tiny-tweets.csv"),
                               "label_column": "sentiment"}]
    cfg["model"].update({"name": str(model_dir), "max_length": 32})
    cfg["train"].update({"max_steps": 24, "val_check_interval": 12, "limit_val_batches": 1.0,
                         "checkpoint_every_n_steps": 12, "max_time_min": 3, "lr": 3e-3})
    cfg["export"].update({"max_f1_drop": 100.0, "validation_samples": 200, "int8_nncf": False,
                          "portable": False})
    cfg["pipeline"].update({"bench": False})
    (root / "configs" / "quickstart.yaml").write_text(yaml.safe_dump(cfg))
    canvas = yaml.safe_load((REPO / "configs" / "quickstart-canvas.yaml").read_text())
    canvas["offline"].update({"threshold": 0.0, "per_class_f1_floor": 0.0})
    canvas["latency"].update({"p95_ms": 10_000, "measure_texts": 20})
    canvas["behaviour"].update({"gate": False, "max_cases": 20})
    (root / "configs" / "quickstart-canvas.yaml").write_text(yaml.safe_dump(canvas))
    shim = tmp / "bin" / "mlops-dl"  # `mlops-dl` = this checkout's CLI in this interpreter
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c '
                    f'"import sys; from mlops_dl.cli import main; sys.exit(main(sys.argv[1:]))" "$@"\n')
    shim.chmod(0o755)
    return root


@pytest.mark.slow  # trains, exports and gates the tiny model once, then a second run
def test_getting_started_commands_run_as_written(tmp_path, tiny_model_dir):
    blocks = BASH.findall((DOCS / "getting-started.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    root = _sandbox(tmp_path, tiny_model_dir)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO), "COLUMNS": "160", "MLOPS_DL_REGISTRY": ""}
    env.pop("MLOPS_DL_REGISTRY")
    for block in blocks:
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=root, env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"$ {block}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    runs = [p for p in (root / "runs").iterdir() if (p / "fit.json").is_file()]
    assert len(runs) == 2 and all(re.fullmatch(r"quickstart-\d{8}-\d{6}-[0-9a-f]{6}", p.name)
                                  for p in runs)
    scored = (root / "scored.csv").read_text().splitlines()
    assert scored[0].startswith("text,pred_label") and len(scored) == 3
    assert (root / "registry" / "quickstart").is_dir()
