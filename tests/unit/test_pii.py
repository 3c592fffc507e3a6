"""Private data masking through Presidio (issue 24): each entity kind is masked as its own
token; look-alikes (prices, dates, order numbers, tweet ids, versions) stay as written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops_dl import pii
from mlops_dl.config import CleanConfig
from mlops_dl.data.clean import clean

REPO = Path(__file__).resolve().parents[2]

MASKED = [  # (text, masked, entity)
    ("write to jane.doe+x@example.co.uk today", "write to <email> today", "EMAIL_ADDRESS"),
    ("details at https://shop.example.com/p?id=7.", "details at <url>.", "URL"),
    ("call +1 (415) 555-0132 after 5", "call <phone> after 5", "PHONE_NUMBER"),
    ("ring 020 7946 0958 please", "ring <phone> please", "PHONE_NUMBER"),
    ("paid with 4111 1111 1111 1111 ugh", "paid with <credit_card> ugh", "CREDIT_CARD"),
    ("IBAN DE89 3704 0044 0532 0130 00 thx", "IBAN <iban> thx", "IBAN_CODE"),
    ("server 192.168.10.23 is down", "server <ip> is down", "IP_ADDRESS"),
    ("my ssn 536-90-4399 leaked", "my ssn <ssn> leaked", "US_SSN"),
    ("@JetBlue lost my bag", "@user lost my bag", "MENTION"),
]
KEPT = [  # look-alikes that must stay
    "it costs $1,299.99 now", "Price: 12.50 EUR", "on 2024-03-15 at 10:30", "due 12/31/2024",
    "order #123456789 shipped", "order number 4582-3395-1102", "tweet 1789012345678901234 rocks",
    "version 3.10.2 is out", "e.g. node.js rocks", "flight 1533 at 45,000 ft in 2017",
    "card 4111 1111 1111 1112 fails Luhn", "I paid 400 for 3 items", "see you at 5:30pm",
]


@pytest.mark.parametrize("text, masked, entity", MASKED)
def test_each_entity_is_masked_as_its_own_token(text, masked, entity):
    out, counts = pii.masker().mask(text)
    assert out == masked and counts == {entity: 1}


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_stay(text):
    assert pii.masker().mask(text) == (text, {})


def test_entity_list_is_configurable_and_counted_in_the_card_entry():
    df = pd.DataFrame({"text": [t for t, _, _ in MASKED] + KEPT, "label": 0, "split": ""})
    out, report = clean(df, CleanConfig(pii_entities=["EMAIL_ADDRESS", "CREDIT_CARD"]))
    step = next(s for s in report.steps if s["step"] == "mask_pii")
    assert step["entities_masked"] == {"EMAIL_ADDRESS": 1, "CREDIT_CARD": 1}
    assert step["changed"] == 2 and "@JetBlue lost my bag" in set(out["text"])
    assert "no NLP engine" in step["ner_model"] or step["ner_model"].startswith("en_")
    assert json.dumps(report.as_dict())  # the card stores it as JSON


def test_unknown_entity_is_a_config_error():
    from mlops_dl.errors import ConfigError

    with pytest.raises(ConfigError, match="pii_entities"):
        CleanConfig(pii_entities=["EMAIL", "URL"])


def test_names_only_with_a_spacy_model():
    m = pii.masker()
    assert ("PERSON" in m.entities) == (pii.spacy_model() is not None)
    assert m.describe()["ner_model"] == (pii.spacy_model() or m.describe()["ner_model"])


def test_masking_keeps_torch_out_of_a_serving_process():
    code = ("import sys; from mlops_dl import pii; pii.mask('a@b.com'); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                         timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


def test_prediction_log_masks_in_its_writer(tmp_path):
    from mlops_dl.serve.predlog import PredictionLog, text_field

    log = PredictionLog(tmp_path / "p.jsonl", mask=True)
    log.write({**text_field("mail a.b@example.com or call +1 415 555 0132", "masked"),
               "label": "x"})
    log.close()
    row = json.loads((tmp_path / "p.jsonl").read_text())
    assert row["text"] == "mail <email> or call <phone>"
