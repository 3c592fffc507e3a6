"""ONNX graph steps: export from PyTorch, fuse with the onnxruntime optimizer, int8-quantize.

Dynamic axes are declared once here (batch_size, sequence_length); the output is ``logits``.
The TorchScript exporter is the default: with eager attention its graph is one the onnxruntime
transformers optimizer fuses completely (MiniLM-L6: 521 -> 50 nodes: 6 Attention,
1 EmbedLayerNormalization, 12 SkipLayerNormalization); the dynamo exporter's graph is as exact
but only reaches 241 -> 187 nodes (no Attention or EmbedLayerNormalization fusion).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from pathlib import Path

from mlops_dl import quiet
from mlops_dl.errors import MlopsError

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DYNAMIC = {0: "batch_size", 1: "sequence_length"}
# transformers model_type -> onnxruntime optimizer model_type (encoder-only families)
ORT_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert",
                   "distilbert": "bert", "mpnet": "bert", "camembert": "bert"}


def input_names(tokenizer) -> list[str]:
    """The ONNX input names, as (and in the order) the tokenizer names them."""
    names = [n for n in tokenizer.model_input_names if n in TOKEN_INPUTS]
    if "input_ids" not in names:
        raise MlopsError(f"tokenizer inputs {tokenizer.model_input_names} have no input_ids")
    return names


def export_onnx(model, tokenizer, path: Path, opset: int, exporter: str = "torchscript") -> list[str]:
    """Write ``model`` as ONNX with dynamic (batch, sequence) axes; return the input names."""
    import torch

    names = input_names(tokenizer)

    class LogitsOnly(torch.nn.Module):  # tuple-free forward: named tensors in, logits out
        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, *tensors):  # each (B, T) -> (B, L)
            return self.network(**dict(zip(names, tensors))).logits

    sample = tokenizer(["an example sentence to trace", "short"], padding=True, return_tensors="pt")
    args = tuple(sample[n] for n in names)
    wrapper = LogitsOnly(model).eval()
    if exporter == "dynamo":  # torch.export takes dynamic_shapes; *tensors is one vararg
        spec = {0: torch.export.Dim("batch_size"), 1: torch.export.Dim("sequence_length")}
        shapes = {"dynamic_shapes": (tuple(spec for _ in names),)}
    else:
        shapes = {"dynamic_axes": {n: DYNAMIC for n in names} | {"logits": {0: "batch_size"}}}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape-dependent Python ifs
        warnings.filterwarnings("ignore", message="Exporting aten::index")  # checked by validation
        torch.onnx.export(
            wrapper, args, str(path), input_names=names, output_names=["logits"],
            opset_version=opset, do_constant_folding=True, dynamo=(exporter == "dynamo"),
            external_data=False, **shapes,
        )
    return names


def optimize(src: Path, dst: Path, model_config) -> dict:
    """Fuse attention/LayerNorm/GELU with onnxruntime.transformers; return the fusion stats."""
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = ORT_MODEL_TYPES.get(getattr(model_config, "model_type", ""), "bert")
    fused = optimize_model(
        str(src), model_type=model_type, num_heads=int(model_config.num_attention_heads),
        hidden_size=int(model_config.hidden_size), opt_level=1, use_gpu=False,
    )
    fused.save_model_to_file(str(dst))
    return {"ort_model_type": model_type, "fused_operators": fused.get_fused_operator_statistics()}


def quantize_int8(src: Path, dst: Path, per_channel: bool = True) -> dict:
    """Dynamic int8 quantization (weights QInt8, activations quantized per batch at run time)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime advises shape-inference pre-processing (for static quantization); the graph
    # here is already fused and dynamic quantization needs no calibration: the advice is dropped
    with quiet.drop_messages(logging.getLogger(), quiet.ORT_PREPROCESS):
        quantize_dynamic(
            str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return {"method": "dynamic", "weight_type": "QInt8", "per_channel": per_channel}


def graph_stats(path: Path) -> dict:
    """Node count, op-type histogram, opset and size of an ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops = Counter(node.op_type for node in model.graph.node)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "nodes": len(model.graph.node),
        "op_types": dict(ops.most_common()),
        "opset": opset,
        "bytes": path.stat().st_size,
        "inputs": [i.name for i in model.graph.input],
        "outputs": [o.name for o in model.graph.output],
    }
