"""Minimal safetensors writer/reader on NumPy arrays (the format is 8-byte header length + JSON + raw data).

Written here so the tools need nothing beyond Debian's python3-numpy; keys are written sorted by name, data
contiguous in that order, as the reference implementation does.
"""
import json
import struct

import numpy as np

_DTYPES = {
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("float64"): "F64",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("uint8"): "U8",
}
_NUMPY = {v: k for k, v in _DTYPES.items()}


def float_to_bf16_bits(a):
    """Round-to-nearest-even float32 -> bfloat16, returned as uint16 bits."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def bf16_bits_to_float(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def save(path, tensors, metadata=None, bf16=()):
    """tensors: name -> np.ndarray; names in `bf16` are stored as BF16 (given as float32)."""
    with open(path, "wb") as f:
        f.write(to_bytes(tensors, metadata, bf16))


def to_bytes(tensors, metadata=None, bf16=()):
    """The file save() writes, as bytes."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if name in bf16:
            data, dtype = float_to_bf16_bits(a).tobytes(), "BF16"
        else:
            data, dtype = a.astype(a.dtype.newbyteorder("<")).tobytes(), _DTYPES[a.dtype]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return b"".join([struct.pack("<Q", len(text)), text] + blobs)


def load(path):
    """Returns (tensors as float32/int arrays, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        buf = raw[base + b : base + end]
        if e["dtype"] == "BF16":
            out[name] = bf16_bits_to_float(np.frombuffer(buf, dtype="<u2")).reshape(e["shape"])
        else:
            out[name] = np.frombuffer(buf, dtype=_NUMPY[e["dtype"]]).reshape(e["shape"]).copy()
    return out, meta
