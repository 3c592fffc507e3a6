"""Open Inference Protocol bodies: JSON and binary tensors in, outputs in the form asked for,
every malformed body a 400 naming the field."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mlops_dl.serve import oip_tensors as t
from mlops_dl.serve.requests import ApiError


def packed(*texts: str) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in (x.encode() for x in texts))


def request(tensor: dict, binary: bytes = b"", **extra) -> tuple[dict, bytes]:
    head = json.dumps({"inputs": [tensor], **extra}).encode()
    return t.split_body(head + binary, str(len(head)) if binary else None)


def test_json_and_binary_inputs_give_the_same_texts():
    doc, buf = request({"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "é"]})
    assert t.decode_texts(t.input_texts(doc, buf, "text"), "d") == ["a", "é"]
    raw = packed("a", "é")
    doc, buf = request({"name": "text", "shape": [2, 1], "datatype": "BYTES",
                        "parameters": {"binary_data_size": len(raw)}}, raw)
    assert t.decode_texts(t.input_texts(doc, buf, "text"), "d") == ["a", "é"]
    doc, buf = request({"name": "text", "shape": [2, 1], "datatype": "BYTES",
                        "data": [["a"], ["b"]]})
    assert t.input_texts(doc, buf, "text") == ["a", "b"]


@pytest.mark.parametrize("tensor, field", [
    ({"name": "txt", "shape": [1], "datatype": "BYTES", "data": ["a"]}, "inputs[0].name"),
    ({"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}, "inputs[0].datatype"),
    ({"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a"]}, "inputs[0].shape"),
    ({"name": "text", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]},
     "inputs[0].shape"),
    ({"name": "text", "shape": "1", "datatype": "BYTES", "data": ["a"]}, "inputs[0].shape"),
    ({"name": "text", "shape": [1], "datatype": "BYTES"}, "inputs[0].data"),
    ({"name": "text", "shape": [1], "datatype": "BYTES",
      "parameters": {"binary_data_size": 99}}, "inputs[0].parameters.binary_data_size"),
])
def test_malformed_tensors_are_400_naming_the_field(tensor, field):
    doc, buf = request(tensor)
    with pytest.raises(ApiError) as e:
        t.input_texts(doc, buf, "text")
    assert e.value.status == 400 and e.value.field == field


def test_malformed_bodies():
    with pytest.raises(ApiError, match="not a valid JSON"):
        t.split_body(b"{nope", None)
    with pytest.raises(ApiError, match="not a length"):
        t.split_body(b"{}", "99")
    with pytest.raises(ApiError, match="expected a JSON object"):
        t.split_body(b"[1]", None)
    with pytest.raises(ApiError, match="ends inside an element length"):
        t.bytes_elements(b"\x01\x00", "d")
    with pytest.raises(ApiError, match="runs past the data"):
        t.bytes_elements(b"\x09\x00\x00\x00ab", "d")
    with pytest.raises(ApiError, match="not UTF-8"):
        t.decode_texts([b"\xff"], "d")
    with pytest.raises(ApiError, match="expected one input"):
        t.input_texts({"inputs": []}, b"", "text")


def test_outputs_in_the_form_asked_for():
    assert t.requested_outputs({}, ("label", "p")) == {"label": False, "p": False}
    doc = {"parameters": {"binary_data_output": True},
           "outputs": [{"name": "p"}, {"name": "label", "parameters": {"binary_data": False}}]}
    assert t.requested_outputs(doc, ("label", "p")) == {"p": True, "label": False}
    with pytest.raises(ApiError, match="unknown output 'logits'"):
        t.requested_outputs({"outputs": [{"name": "logits"}]}, ("label", "p"))
    probs = np.array([[0.25, 0.75]], dtype=np.float32)  # (1, 2)
    tensors = {"label": ("BYTES", [1], np.array(["pos"], dtype=object)),
               "p": ("FP32", [1, 2], probs)}
    entries, tail = t.encode_outputs(tensors, {"label": True, "p": True})
    sizes = [e["parameters"]["binary_data_size"] for e in entries]
    assert t.bytes_elements(tail[:sizes[0]], "d") == [b"pos"]
    assert np.frombuffer(tail[sizes[0]:], dtype=np.float32).tolist() == [0.25, 0.75]
    entries, tail = t.encode_outputs(tensors, {"p": False})
    assert tail == b"" and entries == [{"name": "p", "datatype": "FP32", "shape": [1, 2],
                                        "data": [0.25, 0.75]}]


@pytest.mark.parametrize("head", [b'{"inputs": [], "x": ' + b"1" * 5000 + b"}", b"[" * 100_000, b"\xff{}"])
def test_every_body_the_json_parser_rejects_is_a_400_naming_body(head):
    """A >4300-digit integer (ValueError, not JSONDecodeError), deep nesting, bad UTF-8."""
    with pytest.raises(ApiError) as e:
        t.split_body(head, None)
    assert e.value.status == 400 and e.value.field == "body" and len(str(e.value)) < 2100
