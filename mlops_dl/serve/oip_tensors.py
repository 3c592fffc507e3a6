"""The Open Inference Protocol's infer bodies: JSON, or JSON plus binary tensors (Triton's
binary tensor data extension, which ``tritonclient`` uses by default). Parsing only; the
routes are in oip.py."""

from __future__ import annotations

import json
import struct

import numpy as np

from mlops_dl.errors import clip
from mlops_dl.numbers import NumberError, check_count
from mlops_dl.serve.requests import ApiError, header_count

HEADER_LENGTH = "inference-header-content-length"


def split_body(body: bytes, header_length: str | None) -> tuple[dict, bytes]:
    """The JSON request and the binary buffer after it (empty without the extension)."""
    if header_length is None:
        head, rest = body, b""
    else:
        length = header_count(header_length, "Inference-Header-Content-Length")
        if length > len(body):
            raise ApiError(400, "Inference-Header-Content-Length",
                           f"{length} is not a length within the {len(body)}-byte body")
        head, rest = body[:length], body[length:]
    try:
        doc = json.loads(head.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad UTF-8, bad JSON, a >4300-digit integer
        raise ApiError(400, "body", f"not a valid JSON inference request: {clip(str(e))}") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "body", f"expected a JSON object, got {type(doc).__name__}")
    return doc, rest


def json_count(value: object, field: str) -> int:
    """A JSON length or dimension: a non-negative integer of at most 12 digits, else 400."""
    try:
        return check_count(value, field)
    except NumberError as e:
        raise ApiError(400, field, str(e).removeprefix(f"{field}: ")) from None


def parameters(doc: dict, field: str) -> dict:
    """The ``parameters`` of a request, input or output: an object when present, else 400."""
    if "parameters" not in doc:
        return {}
    params = doc["parameters"]
    if not isinstance(params, dict):  # null too
        raise ApiError(400, f"{field}.parameters" if field else "parameters",
                       f"expected an object, got {type(params).__name__}")
    return params


def bytes_elements(raw: bytes, field: str) -> list[bytes]:
    """A BYTES tensor in binary form: each element a 4-byte little-endian length + bytes."""
    items, at = [], 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise ApiError(400, field, "binary BYTES data ends inside an element length")
        (n,) = struct.unpack_from("<I", raw, at)
        if at + 4 + n > len(raw):
            raise ApiError(400, field, f"binary BYTES element {len(items)} runs past the data")
        items.append(raw[at + 4:at + 4 + n])
        at += 4 + n
    return items


def input_texts(doc: dict, buffer: bytes, name: str) -> list:
    """The elements of the one BYTES input ``name`` (str from JSON, bytes from binary)."""
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError(400, "inputs", f"expected one input, {name!r} (BYTES, shape [N])")
    tensor, field = inputs[0], "inputs[0]"
    if tensor.get("name") != name:
        raise ApiError(400, f"{field}.name", f"unknown input {tensor.get('name')!r} "
                       f"(this model takes {name!r})")
    if tensor.get("datatype") != "BYTES":
        raise ApiError(400, f"{field}.datatype", f"expected BYTES, got {tensor.get('datatype')!r}")
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or not shape or len(shape) > 2
            or (len(shape) == 2 and shape[1] != 1)):
        raise ApiError(400, f"{field}.shape", f"expected [N] (or [N, 1]), got {clip(repr(shape))}")
    shape = [json_count(d, f"{field}.shape[{i}]") for i, d in enumerate(shape)]
    size = parameters(tensor, field).get("binary_data_size")
    if size is not None:
        if json_count(size, f"{field}.parameters.binary_data_size") > len(buffer):
            raise ApiError(400, f"{field}.parameters.binary_data_size",
                           f"{size!r} is not within the {len(buffer)} binary bytes sent")
        data = bytes_elements(buffer[:size], f"{field}.data")
    else:
        data = tensor.get("data")
        if isinstance(data, list) and data and isinstance(data[0], list):
            data = [x for row in data for x in (row if isinstance(row, list) else [row])]
    if not isinstance(data, list):
        raise ApiError(400, f"{field}.data", "missing: send the texts as data or binary data")
    if len(data) != shape[0] * (shape[1] if len(shape) == 2 else 1):
        raise ApiError(400, f"{field}.shape", f"shape {shape} does not match the "
                       f"{len(data)} elements sent")
    return data


def decode_texts(data: list, field: str) -> list:
    """UTF-8 text from binary elements; JSON elements are kept for the limit checks."""
    texts = []
    for i, item in enumerate(data):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ApiError(400, f"{field}[{i}]", f"not UTF-8 text ({e.reason})") from None
        texts.append(item)
    return texts


def requested_outputs(doc: dict, known: tuple[str, ...]) -> dict[str, bool]:
    """{output name: binary?} for the outputs asked for (all of them when none are named)."""
    binary_all = bool(parameters(doc, "").get("binary_data_output", False))
    if "id" in doc and not isinstance(doc["id"], str):
        raise ApiError(400, "id", f"expected a string, got {type(doc['id']).__name__}")
    if "outputs" not in doc:
        return {name: binary_all for name in known}
    asked = doc["outputs"]
    if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
        raise ApiError(400, "outputs", "expected a list of {\"name\": ...} objects")
    out = {}
    for i, o in enumerate(asked):
        if o.get("name") not in known:
            raise ApiError(400, f"outputs[{i}].name", f"unknown output {o.get('name')!r} "
                           f"(outputs: {', '.join(known)})")
        out[o["name"]] = bool(parameters(o, f"outputs[{i}]").get("binary_data", binary_all))
    return out


def encode_outputs(tensors: dict[str, tuple[str, list[int], np.ndarray]],
                   binary: dict[str, bool]) -> tuple[list[dict], bytes]:
    """Output entries (name, datatype, shape, data or binary_data_size) and the binary tail."""
    entries, tail = [], []
    for name, want_binary in binary.items():
        datatype, shape, array = tensors[name]
        entry = {"name": name, "datatype": datatype, "shape": shape}
        if not want_binary:
            entry["data"] = array.reshape(-1).tolist()
        else:
            if datatype == "BYTES":
                raw = b"".join(struct.pack("<I", len(b)) + b
                               for b in (s.encode("utf-8") for s in array.reshape(-1)))
            else:
                raw = np.ascontiguousarray(array, dtype=np.float32).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            tail.append(raw)
        entries.append(entry)
    return entries, b"".join(tail)
