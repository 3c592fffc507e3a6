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


def make_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                           max_features=200_000, strip_accents="unicode")  # fmt: skip


def fit_baseline(
    train: tuple[list[str], list[int]], validation: tuple[list[str], list[int]],
    n_labels: int, seed: int = 0, grid: tuple[float, ...] = C_GRID,
) -> Baseline:  # fmt: skip
    """TF-IDF fitted once on train; one logistic regression per C, the best by validation macro-F1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    vectorizer = make_vectorizer().fit(train[0])
    x_train, x_val = vectorizer.transform(train[0]), vectorizer.transform(validation[0])  # (N, V)
    best: Baseline | None = None
    for C in grid:
        logreg = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(x_train, train[1])
        score = metrics.macro_f1(validation[1], logreg.predict(x_val).tolist(), n_labels)
        if best is None or score > best.validation_macro_f1:
            best = Baseline(Pipeline([("tfidf", vectorizer), ("logreg", logreg)]), C, score)
    assert best is not None
    return best
