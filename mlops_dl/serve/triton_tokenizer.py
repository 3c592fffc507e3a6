"""Triton Python-backend model: texts in, the token tensors of the ONNX model out.

`mlops-dl registry export-triton` copies this file as ``<name>_tokenizer/<N>/model.py`` beside
the version's ``tokenizer.json``. It runs inside Triton's Python backend, where mlops_dl is not
installed: it needs only ``tokenizers`` and numpy, and pads with ``mlops_dl_padding.py`` (a
copy of ``mlops_dl/runtime/padding.py``, the runtime's own padding), written beside it.
"""

import json
import os
import sys

import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mlops_dl_padding import pad_batch  # noqa: E402  (mlops_dl/runtime/padding.py, copied beside)


class TritonPythonModel:
    """Triton calls initialize once per instance, then execute with a list of requests."""

    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=int(params["max_length"]))
        self.pad_id = int(params["pad_id"])
        self.input_name = config["input"][0]["name"]
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests):
        responses = []
        for request in requests:
            raw = pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()  # (B, 1)
            try:
                texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t)
                         for t in raw.reshape(-1)]
            except UnicodeDecodeError as e:
                error = pb_utils.TritonError(f"{self.input_name}: not UTF-8 text ({e})")
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            arrays = pad_batch(self.tokenizer.encode_batch(texts), self.pad_id, self.outputs)
            tensors = [pb_utils.Tensor(name, arrays[name]) for name in self.outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
