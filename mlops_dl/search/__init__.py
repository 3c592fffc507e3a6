"""Hyperparameter search with Optuna over ``train.fit``: space, storage, workers, report."""

from mlops_dl.search.study import SearchRun, finish, optimize, run_search, search_config

__all__ = ["SearchRun", "finish", "optimize", "run_search", "search_config"]
