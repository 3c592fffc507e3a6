"""Fixtures shared by the UI tests (test_ui.py, test_ui_browser.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ui_world(tmp_path_factory, tiny_registry, tiny_run_dir) -> dict:
    """Registry with three tiny versions and a promotion history, a prediction log, a canvas,
    a run with learning curves and a study (tests/unit/ui_helpers.py). Tests that change it
    (rollback, labels) work on copies or in the order the browser test sets."""
    from tests.unit.ui_helpers import build_ui_world

    return build_ui_world(tiny_registry, tiny_run_dir, tmp_path_factory.mktemp("ui-world"))
