"""`mlops-dl predict --executor ray`: Ray Data actors give the same labels, row for row, as
single-process predict (bad rows included). One local Ray for the module."""

from __future__ import annotations

import json
import os
import sys

import pandas as pd
import pytest

from mlops_dl.cli import main
from mlops_dl.errors import DataError, MlopsError
from mlops_dl.runtime import from_registry
from mlops_dl.serve.scoring import score_file

ray = pytest.importorskip("ray")
ray_scoring = pytest.importorskip("mlops_dl.serve.ray_scoring")

JSONL = ['{"text": "love great", "id": 1}', '{"text": 42, "id": 2}', "{not json",
         '{"id": 4}', "", '{"text": null, "id": 6}', '["a list"]', '{"text": "  ", "id": 8}',
         '{"text": "hate awful", "id": 9}']


@pytest.fixture(scope="module")
def local_ray():
    saved = dict(os.environ)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()
    # ray.init leaves RAY_AUTH_MODE=token (and more) in the environment: a later test's driver
    # would then fail to schedule on a `ray start` head that has auth disabled
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_rows):
    """A folder: parquet in row groups of 40, csv and tsv with bad rows, jsonl with bad lines."""
    root = tmp_path_factory.mktemp("ray-in")
    texts = [t for t, _ in tiny_rows[:200]]
    pd.DataFrame({"id": range(200), "text": texts}).to_parquet(root / "a.parquet",
                                                               row_group_size=40)
    (root / "b.csv").write_text('id,text\n1,love it\n2,\n3,"multi\nline hate"\n4,NA\n5,ok\n')
    (root / "c.tsv").write_text("id\ttext\n1\tgreat day\n2\t\n3\tawful\n")
    (root / "d.jsonl").write_text("\n".join(JSONL) + "\n")
    (root / "notes.txt").write_text("not an input\n")
    return root


def single_process(tiny_registry, path, tmp_path) -> pd.DataFrame:
    predictor = from_registry("tiny:1", tiny_registry, variant="fp32")
    out = tmp_path / f"{path.stem}-single.parquet"
    score_file(predictor, path, out, chunk_rows=7)
    return pd.read_parquet(out)


def test_ray_matches_single_process_row_for_row(local_ray, inputs, tiny_registry, tmp_path,
                                                capsys):
    # fp32: int8 quantizes activations per batch, so its scores move (~1e-2) with the rows a
    # text is batched with; fp32 scores agree to 1e-5 however the rows are cut
    out = tmp_path / "scored"
    rc = main(["predict", "tiny:1", "--registry", str(tiny_registry), "--input", str(inputs),
               "--output", str(out), "--executor", "ray", "--concurrency", "2",
               "--batch-size", "16", "--chunk-rows", "50", "--variant", "fp32", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert report["files"] == 4 and report["actors"] == 2 and report["rows"] == 200 + 5 + 3 + 8
    assert report["model"] == "tiny:1" and report["malformed"] == 1 + 1 + 6
    ray_out = pd.read_parquet(out)
    assert not list(tmp_path.glob(".scored.*"))  # the temp folder was renamed
    for name in ("a.parquet", "b.csv", "c.tsv", "d.jsonl"):
        mine = ray_out[ray_out["source_file"] == str(inputs / name)].sort_values("source_row")
        ref = single_process(tiny_registry, inputs / name, tmp_path)
        assert len(mine) == len(ref), name
        assert mine["pred_label"].tolist() == ref["pred_label"].tolist(), name
        assert mine["pred_error"].tolist() == ref["pred_error"].tolist(), name
        assert (mine["pred_score"].fillna(-1).to_numpy() -
                ref["pred_score"].fillna(-1).to_numpy() == pytest.approx(0, abs=1e-5)), name
        assert mine["id"].fillna(-1).tolist() == ref["id"].fillna(-1).tolist(), name  # kept
        assert (mine["pred_model"] == "tiny:1").all()
    jsonl = ray_out[ray_out["source_file"] == str(inputs / "d.jsonl")].sort_values("source_row")
    assert jsonl["source_row"].tolist() == [1, 2, 3, 4, 6, 7, 8, 9]  # the line numbers
    rows = {(r["file"].rsplit("/", 1)[-1], r["row"]) for r in report["malformed_rows"]}
    assert ("b.csv", 2) in rows and ("c.tsv", 2) in rows and ("d.jsonl", 3) in rows


def test_strict_stops_at_the_first_bad_row_and_keeps_nothing(local_ray, inputs, tiny_registry,
                                                              tmp_path):
    out = tmp_path / "strict"
    with pytest.raises(DataError, match=r"b\.csv: row 2: empty 'text'"):
        ray_scoring.score_on_ray("tiny:1", inputs / "b.csv", out, registry=tiny_registry,
                                 strict=True, concurrency=1)
    assert not out.exists() and not list(tmp_path.glob(".strict.*"))


def test_refusals_before_any_work(inputs, tiny_registry, tmp_path, capsys):
    existing = tmp_path / "exists"
    existing.mkdir()
    cases = [
        (["--output", str(existing)], "already exists"),
        (["--output", str(tmp_path / "o.csv")], "writes a parquet dataset"),
        (["--input", str(tmp_path / "none-*.csv")], "no csv/jsonl/parquet/tsv files found"),
        (["--input", str(tmp_path / "missing")], "input not found"),
        (["--input", str(inputs / "notes.txt")], "unsupported file type '.txt'"),
        (["--concurrency", "0"], "must be positive"),
    ]
    for args, message in cases:
        argv = ["predict", "tiny:1", "--registry", str(tiny_registry), "--input", str(inputs),
                "--output", str(tmp_path / "out"), "--executor", "ray", *args]
        assert main(argv) != 0
        assert message in capsys.readouterr().err, args
    rc = main(["predict", "tiny:1", "--registry", str(tiny_registry), "--input", str(inputs),
               "--output", str(tmp_path / "o.parquet")])
    assert rc != 0 and "needs --executor ray" in capsys.readouterr().err


def test_actor_threads_follow_its_cpus(tiny_registry):
    from mlops_dl.registry import open_registry
    mv = open_registry(tiny_registry).get("tiny:1")
    servable = ray_scoring.driver_servable(mv, "onnxruntime", "int8", "cpu")
    scorer = ray_scoring.BatchScorer(ray_scoring.model_files(mv, servable), mv.name, mv.version,
                                     servable.engine, servable.variant, "cpu", "text", cpus=3)
    assert scorer.predictor.settings.intra_op_threads == 3  # outside an actor: the request
    assert scorer.predictor.ref == "tiny:1"


def test_missing_ray_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.delitem(sys.modules, "mlops_dl.serve.ray_scoring")
    with pytest.raises(MlopsError, match=r"pip install 'mlops-dl\[ray\]'") as e:
        import mlops_dl.serve.ray_scoring  # noqa: F401
    assert "\n" not in str(e.value)


def _single(tiny_registry, path, tmp_path, engine, variant) -> pd.DataFrame:
    predictor = from_registry("tiny:1", tiny_registry, variant=variant, engine=engine)
    out = tmp_path / f"{path.stem}-{engine}-{variant}.parquet"
    score_file(predictor, path, out, chunk_rows=7)
    return pd.read_parquet(out)


@pytest.mark.parametrize("engine,variant", [("openvino", "int8-nncf"), ("onnxruntime", "int8")])
def test_ray_honours_engine_and_variant(local_ray, inputs, tiny_registry, tmp_path, capsys,
                                        engine, variant):
    """--engine/--variant reach every actor; the default int8 (static QDQ, batch-invariant)
    gives the labels of single-process predict whatever rows the actors batch together."""
    pytest.importorskip("openvino")
    out = tmp_path / "scored"
    rc = main(["predict", "tiny:1", "--registry", str(tiny_registry), "--input",
               str(inputs / "a.parquet"), "--output", str(out), "--executor", "ray",
               "--concurrency", "2", "--batch-size", "16", "--engine", engine,
               "--variant", variant, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    want = {"int8-nncf": "openvino int8-nncf (int8)", "int8": "onnxruntime int8-static (int8)"}
    assert report["servable"] == want[variant]
    mine = pd.read_parquet(out).sort_values("source_row")
    ref = _single(tiny_registry, inputs / "a.parquet", tmp_path, engine, variant)
    assert mine["pred_label"].tolist() == ref["pred_label"].tolist()


def test_ray_refuses_what_it_cannot_run(local_ray, inputs, tiny_registry, tmp_path, capsys):
    rc = main(["predict", "tiny:1", "--registry", str(tiny_registry), "--input",
               str(inputs / "a.parquet"), "--output", str(tmp_path / "o"), "--executor", "ray",
               "--engine", "openvino", "--variant", "fp32", "--provider", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "--engine openvino runs on CPU only" in err[0]
    assert not (tmp_path / "o").exists()
