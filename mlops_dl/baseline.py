"""The TF-IDF + logistic-regression baseline, trained on the same train split as the model.

Word 1-2-gram TF-IDF (sublinear tf) into a multinomial logistic regression; the
regularisation strength C is picked on the validation split (never on test).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_dl import metrics

C_GRID = (0.25, 1.0, 4.0, 16.0)


@dataclass
class Baseline:
    pipeline: object  # sklearn Pipeline(tfidf, logreg)
    C: float
    validation_macro_f1: float

    def predict(self, texts: list[str]) -> list[int]:
        return [int(x) for x in self.pipeline.predict(texts)]


def make_pipeline(C: float, seed: int = 0):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([
        ("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                  max_features=200_000, strip_accents="unicode")),
        ("logreg", LogisticRegression(C=C, max_iter=2000, random_state=seed)),
    ])  # fmt: skip


def fit_baseline(
    train: tuple[list[str], list[int]], validation: tuple[list[str], list[int]],
    n_labels: int, seed: int = 0, grid: tuple[float, ...] = C_GRID,
) -> Baseline:  # fmt: skip
    """Fit one pipeline per C on train, keep the best by validation macro-F1."""
    best: Baseline | None = None
    for C in grid:
        pipe = make_pipeline(C, seed).fit(*train)
        pred = [int(x) for x in pipe.predict(validation[0])]
        score = metrics.macro_f1(validation[1], pred, n_labels)
        if best is None or score > best.validation_macro_f1:
            best = Baseline(pipe, C, score)
    assert best is not None
    return best
