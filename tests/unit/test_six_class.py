"""The held-back shape end to end: a 6-class (emotion) tiny model exports at the default gates
and is accepted, behaviour gate on, with a canvas whose labels are not sentiment labels."""

from __future__ import annotations

import json
import random

import yaml

from mlops_dl.cli import main
from mlops_dl.export import export_run
from tests.unit.monitor_helpers import REPO

EMOTIONS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
WORDS = {"sadness": ["sad", "worst"], "joy": ["happy", "awesome"], "love": ["love", "wonderful"],
         "anger": ["angry", "hate"], "fear": ["terrible", "horrible"],
         "surprise": ["excellent", "world"]}  # words of the tiny vocabulary, two per emotion
FILLER = ["the", "meeting", "is", "at", "noon", "today", "flight", "phone", "movie", "coffee"]


def emotion_rows(n: int) -> list[tuple[str, str]]:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        label = EMOTIONS[i % 6]
        body = [rng.choice(WORDS[label])] + rng.sample(FILLER, 3)
        rng.shuffle(body)
        rows.append((f"{' '.join(body)} number {i}", label))
    return rows


def emotion_canvas(tmp_path, data_config) -> str:
    raw = yaml.safe_load((REPO / "configs" / "quickstart-canvas.yaml").read_text())
    raw.update({"name": "emotion", "task": "Which emotion a message expresses.",
                "labels": EMOTIONS, "data_config": str(data_config), "model": "emotion"})
    raw["latency"] = {**raw["latency"], "p95_ms": 1000}  # a shared 2-core test machine
    raw["behaviour"]["label_templates"] = {
        "templates": {label: [f"{w} {{x}}" for w in words] for label, words in WORDS.items()},
        "objects": ["the movie", "today"]}
    path = tmp_path / "emotion-canvas.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_six_class_model_exports_at_default_gates_and_is_accepted(tmp_path, capsys):
    from tests.fixtures.make_tiny import build_tiny_model
    from tests.fixtures.tiny_run import build_tiny_run

    model = build_tiny_model(tmp_path / "model", labels=EMOTIONS)
    run = build_tiny_run(tmp_path, model, emotion_rows(420), EMOTIONS, export_gates="defaults")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["export"]["max_f1_drop"] == 0.5 and cfg["export"]["atol_int8"] == 1.0
    result = export_run(run, name="emotion", registry=tmp_path / "registry",
                        overrides=["export.int8_nncf=false", "export.portable=false"])
    int8 = result.validation["variants"]["int8"]
    assert int8["passed"] and int8["f1_ok"] and int8["agreement_ok"]
    data_config = tmp_path / "emotion.yaml"
    data_config.write_text(yaml.safe_dump({"data": {**cfg["data"], "name": "emotion"}}))
    canvas = emotion_canvas(tmp_path, data_config)
    rc = main(["accept", "emotion:1", "--registry", str(tmp_path / "registry"), "--canvas", canvas,
               "--json"])
    report = json.loads(capsys.readouterr().out)
    served = report["servables"][report["canvas_servable"]]  # the servable the canvas serves
    by = {c["name"]: c for c in served["behaviour"]["checks"]}
    assert rc == 0 and report["passed"], served["checks"]
    assert served["behaviour"]["gate"] and by["label_templates"]["passed"]
    assert by["label_templates"]["cases"] == 6 * 2 * 2
    assert by["negation"]["skipped"] == "off (auto: positive_label 'positive' is not a label)"
