"""The engine layer: a registered version served with ``tokenizers`` + onnxruntime or OpenVINO
(no torch).

    load       from_registry / from_version / from_dir: resolve ``auto``, then build one
    auto       engine/variant ``auto``: the fastest accepted servable on this machine
    predictor  the Predictor (tokenize -> plan -> feeds -> run -> result) and ``build``
    batching   batch plans: length-sorted, by padded-token budget or fixed text count
    variants   the one engine x variant x precision table and resolver (``resolve``)
    onnxruntime, openvino   the engine sessions;  padding   feeds (numpy only; Triton copies it)

Imports point one way: load -> auto -> predictor -> {batching, onnxruntime, openvino, padding,
variants}.
"""

from mlops_dl.runtime.load import freeze_heap, from_dir, from_registry, from_version, servable_for
from mlops_dl.runtime.predictor import Predictor, build, load_tokenizer
from mlops_dl.runtime.variants import Servable, resolve

__all__ = ["Predictor", "Servable", "build", "freeze_heap", "from_dir", "from_registry",
           "from_version", "load_tokenizer", "resolve", "servable_for"]
