"""The UI over HTTP (no browser): pages, stable URLs, the token, escaping, errors as pages."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from mlops_dl.cli import main
from mlops_dl.registry import open_registry
from mlops_dl.ui import create_app
from tests.unit.monitor_helpers import copy_registry
from tests.unit.ui_helpers import SCRIPT_TWEET, expected_flips, ui_settings

TOKEN = "unit-test-token"


@pytest.fixture()
def own_registry(ui_world, tmp_path):
    """A writable copy of the world's registry (these tests move aliases)."""
    return copy_registry(ui_world["registry"], tmp_path / "registry")


def _client(ui_world, token=TOKEN, registry=None) -> TestClient:
    return TestClient(create_app(ui_settings(ui_world, token, registry)))


def test_pages_answer_with_their_content(ui_world):
    c = _client(ui_world)
    assert "tiny:3" in c.get("/").text
    model = c.get("/models/tiny").text
    assert all(f"/models/tiny/versions/{v}" in model for v in (1, 2, 3))
    assert '<span class="decision promoted"' in model and '<span class="decision forced"' in model
    assert "fp32 only" in c.get("/models/tiny/compare?v=1&v=2").text
    assert "canary of the positive-leaning head" in model  # the forced promotion's reason
    assert "tampered" not in c.get("/models/tiny/versions/1/verify").text
    assert "token_length" in c.get("/monitoring").text
    assert "optuna-dashboard sqlite" in c.get("/studies/tiny-study").text
    assert "tiny-run-curves" in c.get("/runs").text


def test_flips_fragment_matches_the_stored_predictions(ui_world):
    want = expected_flips(ui_world["registry"], 1, 2, "fp32")
    html = _client(ui_world).get("/models/tiny/compare/flips?v=1&v=2&a=1&b=2").text
    assert f"{len(want)} of the shared validation texts" in html
    assert all(text in html for text, _, _ in want)
    a_label, b_label = sorted(want)[0][1:]
    narrow = _client(ui_world).get(f"/models/tiny/compare/flips?v=1&v=2&a=1&b=2&from={a_label}&to={b_label}").text
    assert f"Showing A = {a_label} → B = {b_label}: {sum(1 for w in want if w[1:] == (a_label, b_label))}" in narrow


def test_no_page_points_outside_the_ui(ui_world):
    c = _client(ui_world)
    for url in ("/", "/models/tiny", "/models/tiny/versions/1", "/models/tiny/compare?v=1&v=3",
                "/monitoring", "/labelling", "/runs", "/runs/tiny-run-curves", "/studies/tiny-study"):
        r = c.get(url)
        assert r.status_code == 200, url
        assert not re.findall(r'(?:src|href)="(?:https?:)?//', r.text), url
        assert "default-src 'self'" in r.headers["content-security-policy"]


def test_logged_script_is_escaped(ui_world):
    html = _client(ui_world).get("/labelling").text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert SCRIPT_TWEET not in html


MOVE = "/models/tiny/aliases/production/move"


def test_rollback_is_refused_without_the_right_token(ui_world, own_registry):
    reg = open_registry(own_registry)
    url, form = MOVE, {"version": "1", "confirm": "yes", "reason": "canary too eager"}
    read_only = _client(ui_world, token=None, registry=own_registry)
    assert "disabled" in read_only.get("/models/tiny").text
    r = read_only.post(url, data={**form, "token": TOKEN})
    assert r.status_code == 403 and "read-only" in r.text
    c = _client(ui_world, registry=own_registry)
    for headers, data in (({}, form), ({}, {**form, "token": "wrong"}), ({"X-UI-Token": "wrong"}, form),
                          ({"Authorization": "Bearer wrong"}, form)):
        assert c.post(url, data=data, headers=headers).status_code == 403
    assert reg.alias_target("tiny", "production") == 3
    r = c.post(url, data=form, headers={"Authorization": f"Bearer {TOKEN}"}, follow_redirects=False)
    assert r.status_code == 303 and reg.alias_target("tiny", "production") == 1
    for bad in ("x", "01", "1\n", "\u0661", "9" * 5000):  # one number rule: ASCII digits only
        r = c.post(url, data={"version": bad, "token": TOKEN})
        assert r.status_code == 400 and "version" in r.text, bad
    assert c.post(url, data={"version": "9", "token": TOKEN}).status_code == 404
    hx = c.post(url, data={"version": "3", "token": "wrong"}, headers={"HX-Request": "true"})
    assert hx.headers["HX-Retarget"] == "#flash" and "wrong token" in hx.text


def test_ui_rollback_confirms_needs_a_reason_and_is_recorded(ui_world, own_registry, capsys):
    reg = open_registry(own_registry)
    c = _client(ui_world, registry=own_registry)
    confirm = c.post(MOVE, data={"version": "1", "token": TOKEN})  # step 1: nothing moves
    assert confirm.status_code == 200 and reg.alias_target("tiny", "production") == 3
    assert "rollback</b> @production from tiny:3 to tiny:1" in confirm.text
    assert "accepted" in confirm.text and "would pass" in confirm.text
    no_reason = c.post(MOVE, data={"version": "1", "token": TOKEN, "confirm": "yes"})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    assert reg.alias_target("tiny", "production") == 3
    r = c.post(MOVE, data={"version": "1", "token": TOKEN, "confirm": "yes",
                           "reason": "canary leans positive"})
    assert r.status_code == 200 and "moved @production to tiny:1" in r.text
    last = reg.history("tiny", "production")[-1]
    assert (last["action"], last["from"], last["to"], last["reason"]) == (
        "rollback", 3, 1, "canary leans positive")
    audit = reg.read_audit("tiny")[-1]  # the gate's audit log keeps the decision too
    assert (audit["decision"], audit["ref"], audit["previous"]) == ("rollback", "tiny:1", "tiny:3")
    rows = re.findall(r"<tr>(.*?)</tr>", r.text.split('id="history"')[1].split("<tbody>")[1], re.S)
    assert "decision rollback" in rows[0] and "roll back" not in rows[0]  # newest first, 1 is current
    assert "decision forced" in rows[1] and "move to 3" in rows[1]  # 3 is newer: a move, not a rollback
    assert "overrode: tiny:3: no batch-invariant int8 variant" in rows[1]  # the gate problems it forced past
    capsys.readouterr()
    assert main(["registry", "history", "tiny@production", "--registry", str(own_registry), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(m["action"], m["from"], m["to"]) for m in shown] == [
        ("promote", None, 1), ("forced", 1, 3), ("rollback", 3, 1)]


def test_a_move_the_gate_refuses_needs_force_and_is_recorded_forced(ui_world, own_registry):
    reg = open_registry(own_registry)
    c = _client(ui_world, registry=own_registry)
    confirm = c.post(MOVE, data={"version": "2", "token": TOKEN})
    assert "<b>move</b>" in confirm.text and "would refuse" in confirm.text
    assert 'name="force"' in confirm.text and "not accepted" in confirm.text
    form = {"version": "2", "token": TOKEN, "confirm": "yes", "reason": "try the neutral head"}
    refused = c.post(MOVE, data=form)
    assert refused.status_code == 409 and "refused" in refused.text and "force" in refused.text
    assert reg.alias_target("tiny", "production") == 3
    assert reg.read_audit("tiny")[-1]["decision"] == "refused"
    forced = c.post(MOVE, data={**form, "force": "yes"}, follow_redirects=False)
    assert forced.status_code == 303 and reg.alias_target("tiny", "production") == 2
    last = reg.history("tiny", "production")[-1]
    assert (last["action"], last["to"], last["reason"]) == ("forced", 2, "try the neutral head")
    audit = reg.read_audit("tiny")[-1]
    assert audit["decision"] == "forced" and audit["problems"] and audit["kind"] == "move"


def test_model_page_and_rollback_on_an_s3_registry(ui_world, s3_url):
    reg = open_registry(s3_url)
    local = open_registry(ui_world["registry"])
    for version in (1, 2):
        local.copy(f"tiny:{version}", reg)
    reg.promote("tiny:1", "production", reason="first")
    reg.promote("tiny:2", "production", reason="second")
    c = TestClient(create_app(ui_settings(ui_world, TOKEN, s3_url)))
    page = c.get("/models/tiny").text
    assert "/models/tiny/versions/2" in page and "roll back to 1" in page and "second" in page
    r = c.post(MOVE, data={"version": "1", "token": TOKEN, "reason": "s3 drill",
                           "confirm": "yes", "force": "yes"})
    assert r.status_code == 200 and reg.alias_target("tiny", "production") == 1
    action, to, reason = [(m["action"], m["to"], m["reason"])
                          for m in reg.history("tiny", "production")][-1]
    assert (to, reason) == (1, "s3 drill") and action in ("rollback", "forced")
    assert reg.read_audit("tiny")[-1]["decision"] == action  # rollback, or forced past the gate


def test_label_post_validates_label_and_text(ui_world, tmp_path):
    settings = ui_settings(ui_world, TOKEN)
    settings.annotations = tmp_path / "annotations.csv"
    c = TestClient(create_app(settings))
    assert c.post("/labelling/abc", data={"gold": "positive"}).status_code == 403
    r = c.post("/labelling/abc", data={"gold": "great", "token": TOKEN})
    assert r.status_code == 400 and "not one of the canvas labels" in r.text
    r = c.post("/labelling/abc", data={"gold": "positive", "token": TOKEN})
    assert r.status_code == 400 and "not in the labelling queue" in r.text
    assert not settings.annotations.exists()


@pytest.mark.parametrize("url, status, words", [
    ("/models/nope", 404, "no model named 'nope'"),
    ("/models/tiny/versions/9", 404, "has no version 9"),
    ("/models/tiny/compare?v=1", 400, "2 to 8 distinct versions"),
    ("/models/tiny/compare?v=1&v=x", 400, "v: 'x' is not a number"),
    ("/models/tiny/compare/flips?v=1&v=2&a=1&b=3", 400, "two of the compared versions"),
    ("/runs/nope", 400, "no run 'nope'"),
    ("/studies/.hidden", 404, "invalid study '.hidden'"),
    ("/nowhere", 404, "no such page"),
    ("/monitoring?slices=0", 400, "slices: 0 is below"),
])
def test_bad_requests_get_a_page_naming_the_problem(ui_world, url, status, words):
    r = _client(ui_world).get(url)
    assert r.status_code == status and words in r.text.replace("&#39;", "'"), r.text


def test_monitoring_and_labelling_without_a_log_say_so(ui_world):
    settings = ui_settings(ui_world)
    settings.logs = []
    r = TestClient(create_app(settings)).get("/monitoring")
    assert r.status_code == 400 and "--log" in r.text


def test_cli_refuses_bad_options(capsys):
    assert main(["ui", "--port", "0"]) == 2
    assert "--port 0" in capsys.readouterr().err
    assert main(["ui", "--token", "short"]) == 2
    assert "at least 8" in capsys.readouterr().err


def test_rendering_every_page_imports_no_torch(ui_world):
    import json
    import os
    import subprocess
    import sys

    from tests.unit.monitor_helpers import REPO

    w = {k: str(v) for k, v in ui_world.items()}
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom fastapi.testclient import TestClient\n"
        "from mlops_dl.ui import UISettings, create_app\n"
        f"w = json.loads({json.dumps(json.dumps(w))})\n"
        "c = TestClient(create_app(UISettings(registry=w['registry'], logs=[w['log']], canvas=Path(w['canvas']),"
        " runs_dir=Path(w['runs']), studies_dir=Path(w['studies']), annotations=Path(w['tmp']) / 'none.csv')))\n"
        "for u in ['/', '/models/tiny', '/models/tiny/versions/1', '/models/tiny/compare?v=1&v=2&v=3',"
        " '/monitoring', '/labelling', '/runs', '/runs/tiny-run-curves', '/studies/tiny-study']:\n"
        "    assert c.get(u).status_code == 200, u\n"
        "print(json.dumps(sorted(m for m in ('torch', 'lightning', 'transformers') if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_run_with_corrupt_metrics_gets_an_error_page_not_a_500(tmp_path):
    """The run page reads metrics.json through the run-dir contract (a named error)."""
    from mlops_dl.errors import MlopsError
    from mlops_dl.ui.runs import run_page

    (tmp_path / "metrics.json").write_text('{"test": ' + "1" * 5000 + "}")
    with pytest.raises(MlopsError, match="metrics.json"):
        run_page(tmp_path, "broken")
