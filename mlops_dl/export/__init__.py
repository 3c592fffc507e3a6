"""ONNX export: export -> validate -> optimize -> quantize -> bundle -> register.

Torch and transformers are imported only inside these functions; the registry never sees them.
"""

from mlops_dl.export.run import ExportError, ExportResult, export_run
from mlops_dl.export.source import RunSource, open_run

__all__ = ["ExportError", "ExportResult", "RunSource", "export_run", "open_run"]
