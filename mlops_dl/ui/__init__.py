"""The web UI over the registry and the prediction log: `mlops-dl ui`.

Server-rendered pages (FastAPI + Jinja2), htmx for partial updates and Vega-Lite charts whose
specs are built in Python; the JavaScript is vendored in static/vendor, so nothing is fetched
from elsewhere. Reads the registry through mlops_dl.registry and the log through
mlops_dl.monitor; no torch.

    from mlops_dl.ui import UISettings, create_app
    app = create_app(UISettings(registry="registry", logs=["logs/predictions.jsonl"]))
"""

from mlops_dl.ui.app import UISettings, create_app

__all__ = ["UISettings", "create_app"]
