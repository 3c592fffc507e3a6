"""The data stage: sources -> labels -> cleaning -> frozen splits -> prepared dataset + card.

``prepare(cfg)`` builds ``<data.output_dir>/<data.name>`` and returns it; ``load_prepared(dir)``
opens one (the contract the training, export and monitoring stages read).
"""

from mlops_dl.data.build import prepare
from mlops_dl.data.prepared import PreparedData, fingerprint, load_prepared, output_path

__all__ = ["prepare", "output_path", "load_prepared", "PreparedData", "fingerprint"]
