#!/usr/bin/python3
"""An independent safetensors reader (Python + numpy only) that checks a file
against the published format and prints every tensor: `name first-value sum`.
Run by tests/test_checkpoint.c (test_python_reader) where numpy is installed.

Checks: 8-byte little-endian header length within the file, a JSON object
header (padding only spaces), __metadata__ a string->string map, dtype F32,
integer shapes, data_offsets inside the data section, end-begin equal to
4*prod(shape), tensors not overlapping and covering the data exactly.
Exits non-zero with a message on the first violation."""
import json
import struct
import sys

import numpy as np


def fail(msg):
    print("check_safetensors: " + msg, file=sys.stderr)
    sys.exit(1)


def main(path):
    raw = open(path, "rb").read()
    if len(raw) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        fail("header length %d past end of file" % n)
    text = raw[8:8 + n].decode("utf-8")
    if not text.startswith("{"):
        fail("header does not start with '{'")
    hdr = json.loads(text.rstrip(" "))
    if (8 + n) % 8:
        fail("data section not 8-byte aligned")
    data = raw[8 + n:]
    meta = hdr.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("__metadata__ must map strings to strings")
    spans = []
    for name, e in hdr.items():
        if set(e) != {"dtype", "shape", "data_offsets"}:
            fail("%s: unexpected fields %s" % (name, sorted(e)))
        if e["dtype"] != "F32":
            fail("%s: dtype %s" % (name, e["dtype"]))
        shape = e["shape"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            fail("%s: bad shape %s" % (name, shape))
        b, end = e["data_offsets"]
        if not (0 <= b <= end <= len(data)):
            fail("%s: offsets %s outside data (%d bytes)" % (name, e["data_offsets"], len(data)))
        if end - b != 4 * int(np.prod(shape, dtype=np.int64)):
            fail("%s: %d bytes for shape %s" % (name, end - b, shape))
        spans.append((b, end, name))
        arr = np.frombuffer(data[b:end], dtype="<f4").reshape(shape)
        first = float(arr.reshape(-1)[0]) if arr.size else 0.0
        print("%s %.9g %.9g" % (name, first, float(arr.astype(np.float64).sum())))
    pos = 0
    for b, end, name in sorted(spans):
        if b != pos:
            fail("%s: starts at %d, expected %d (hole or overlap)" % (name, b, pos))
        pos = end
    if pos != len(data):
        fail("data section has %d bytes, tensors cover %d" % (len(data), pos))
    for k, v in sorted(meta.items()):
        print("# %s = %s" % (k, v))


if __name__ == "__main__":
    main(sys.argv[1])
