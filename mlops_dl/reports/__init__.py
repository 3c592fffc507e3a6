"""Self-contained HTML reports (plots as base64 PNG): data card, run, comparison, monitoring."""

from mlops_dl.reports.html import write

__all__ = ["write"]
