"""Private data masking with Microsoft Presidio: one token per entity, counted per entity.

Presidio's pattern recognizers find emails, URLs, phone numbers (``phonenumbers``), credit
cards (Luhn-checked), IBANs (checksum-checked), IP addresses and US SSNs; ours finds @mentions.
Names (PERSON) need a spaCy NER model: used only where an English one is installed, otherwise
the analyzer runs without an NLP engine (pattern recognizers only, no model download) and
``describe()`` says so. Used by data cleaning, the prediction log (serve.log_text: masked) and
the texts the UI shows. Presidio is imported on first use (with torch and transformers kept
out, so the serving path stays torch-free).
"""

from __future__ import annotations

import functools
import sys
from collections import Counter

from mlops_dl.config.schema import PII_ENTITIES
from mlops_dl.errors import MlopsError

TOKENS = dict(zip(PII_ENTITIES, ("<email>", "<url>", "<phone>", "<credit_card>", "<iban>",
                                 "<ip>", "<ssn>", "@user", "<person>")))
MENTION = r"(?<![\w@/])@\w+"  # not inside an email or a URL path
URL_TAIL = ".,;:!?)]'\""
SCORE_THRESHOLD = 0.4  # Presidio's phone matches score 0.4; weaker hits are left alone
KEEP_OUT = ("torch", "transformers")  # Presidio imports them if present; the serving path must not


def _import_presidio():
    blocked = [m for m in KEEP_OUT if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # `import torch` raises ImportError: Presidio skips those engines
    try:
        import presidio_analyzer
        import presidio_analyzer.predefined_recognizers as recognizers
        import presidio_anonymizer  # noqa: F401 (the replacement step)
        import tldextract.tldextract as tld
    except ImportError as e:
        raise MlopsError(f"masking private data needs Presidio: pip install 'mlops-dl[privacy]' "
                         f"({e})") from None
    finally:
        for m in blocked:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]
    # the email check's public-suffix list: the bundled snapshot, never a download
    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)
    return presidio_analyzer, recognizers


def spacy_model() -> str | None:
    """An installed spaCy English pipeline (for PERSON), or None."""
    try:
        import spacy.util
    except ImportError:
        return None
    return next((m for m in sorted(spacy.util.get_installed_models()) if m.startswith("en_")), None)


class Masker:
    """An analyzer for ``entities``; ``mask(text)`` -> (masked text, {entity: count})."""

    def __init__(self, entities: tuple[str, ...]):
        presidio, rec = _import_presidio()
        self.model = spacy_model() if "PERSON" in entities else None
        self.entities = [e for e in entities if e != "PERSON" or self.model]
        made = {"EMAIL_ADDRESS": rec.EmailRecognizer, "URL": rec.UrlRecognizer,
                "PHONE_NUMBER": rec.PhoneRecognizer, "CREDIT_CARD": rec.CreditCardRecognizer,
                "IBAN_CODE": rec.IbanRecognizer, "IP_ADDRESS": rec.IpRecognizer,
                "US_SSN": rec.UsSsnRecognizer}
        registry = presidio.RecognizerRegistry(supported_languages=["en"])
        for entity in self.entities:
            if entity in made:
                registry.add_recognizer(made[entity]())
        if "MENTION" in self.entities:
            registry.add_recognizer(presidio.PatternRecognizer(
                supported_entity="MENTION", patterns=[presidio.Pattern("mention", MENTION, 0.9)]))
        if self.model:
            registry.add_recognizer(rec.SpacyRecognizer(supported_entities=["PERSON"]))
        self.engine = presidio.AnalyzerEngine(registry=registry, nlp_engine=self._nlp(),
                                              supported_languages=["en"])
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        self.anonymizer = AnonymizerEngine()
        self.operators = {e: OperatorConfig("replace", {"new_value": TOKENS[e]})
                          for e in self.entities}

    def _nlp(self):
        from presidio_analyzer.nlp_engine import NlpEngineProvider, NoOpNlpEngine

        if not self.model:
            return NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        return NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": [
            {"lang_code": "en", "model_name": self.model}]}).create_engine()

    def mask(self, text: str) -> tuple[str, Counter]:
        """``text`` with each found entity replaced by its token; how many of each."""
        found = self.engine.analyze(text, language="en", entities=self.entities,
                                    score_threshold=SCORE_THRESHOLD) if text else []
        kept: list = []  # strongest first, then longest; overlaps lose (an email's domain)
        for r in sorted(found, key=lambda r: (-r.score, r.start - r.end, r.start)):
            if r.entity_type == "URL":  # a sentence's "." or "," after a link is not the link's
                while r.end > r.start + 1 and text[r.end - 1] in URL_TAIL:
                    r.end -= 1
            if all(r.end <= k.start or r.start >= k.end for k in kept):
                kept.append(r)
        counts = Counter(r.entity_type for r in kept)
        if kept:
            text = self.anonymizer.anonymize(text=text, analyzer_results=kept,
                                             operators=self.operators).text
        return text, counts

    def describe(self) -> dict:
        """What the data card records: the engine, the NER model (or why none), the entities."""
        from importlib.metadata import version

        return {"engine": f"presidio-analyzer {version('presidio-analyzer')}",
                "ner_model": self.model or "none installed: PERSON not masked, pattern "
                             "recognizers only (no NLP engine)",
                "tokens": {e: TOKENS[e] for e in self.entities}}


@functools.cache
def masker(entities: tuple[str, ...] = PII_ENTITIES) -> Masker:
    """One Masker per entity list for the process (building one takes a second or two)."""
    return Masker(tuple(entities))


def mask(text: str, entities: tuple[str, ...] = PII_ENTITIES) -> str:
    """``text`` with private data masked (see ``Masker.mask``)."""
    return masker(tuple(entities)).mask(text)[0]
