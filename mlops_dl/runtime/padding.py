"""Token encodings as the model's input tensors: padded to the longest, mask 1/0. numpy only.

The runtime builds its onnxruntime feeds here, and ``registry export-triton`` copies this file
beside the Triton tokenizer model (as ``mlops_dl_padding.py``), so Triton and our runtime feed
the ONNX model the same tensors. It must import nothing of mlops_dl.
"""

import numpy as np


def pad_batch(encodings, pad_id, names, buckets=()):
    """``tokenizers`` encodings -> {name: array} for ``names``, padded to the longest, or up to
    the first of the sorted ``buckets`` that holds it. Each array # (B, T) int64."""
    width = max((len(e.ids) for e in encodings), default=0)
    width = next((b for b in buckets if b >= width), width)
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
