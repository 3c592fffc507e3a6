"""Triton Python-backend model: texts in, the token tensors of the ONNX model out.

`mlops-dl registry export-triton` copies this file as ``<name>_tokenizer/<N>/model.py`` beside
the version's ``tokenizer.json``. It runs inside Triton's Python backend, where mlops_dl is not
installed: it needs only ``tokenizers`` and numpy, and pads exactly like
``mlops_dl.runtime.Predictor`` (to the longest text of the request, ``pad_id``, mask 1/0).
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer


def encode(tokenizer, texts, pad_id, names):
    """Token tensors for ``texts``, padded to the longest. Each array # (B, T) int64."""
    encodings = tokenizer.encode_batch(list(texts))
    width = max([len(e.ids) for e in encodings] + [1])
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)  # (B, T)
    mask = np.zeros_like(ids)  # (B, T)
    types = np.zeros_like(ids)  # (B, T)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        mask[row, :n] = 1
        types[row, :n] = enc.type_ids
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: arrays[name] for name in names}


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
            arrays = encode(self.tokenizer, texts, self.pad_id, self.outputs)
            tensors = [pb_utils.Tensor(name, arrays[name]) for name in self.outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
