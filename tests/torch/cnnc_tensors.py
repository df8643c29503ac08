# Named-tensor files shared with the C++ tests (tests/reference/torch_bridge.h) and cnnc layouts.
"""The Python side of the exchange format; the C++ side is tests/reference/torch_bridge.cpp.

Two versions, both little-endian; readers accept either, writers use version 1 unless a tensor
needs version 2:

  version 1: magic "CNNCTNS1", uint64 count, then per tensor
      uint32 name length, name (UTF-8), uint32 rank, int64 extents[rank] (innermost first),
      float32 values[product of extents], innermost dimension fastest
  version 2: magic "CNNCTNS2", uint64 count, then per tensor
      uint32 name length, name (UTF-8), uint8 dtype (0 float32, 1 float64, 2 UTF-8 text),
      uint32 rank, int64 extents[rank], then the values (float32 or float64), or for text
      (rank 1, extent = byte count) the bytes

Extents are stored innermost first, so a numpy array's shape is the reverse of the extents.
Text entries carry specifications (e.g. "spec.json"); float64 entries let references be compared
to 1e-10 instead of float32's 1e-7.
"""

import struct
import sys

import numpy as np

MAGIC_V1 = b"CNNCTNS1"
MAGIC_V2 = b"CNNCTNS2"
FLOAT32, FLOAT64, TEXT = 0, 1, 2


class FormatError(Exception):
    pass


def read_tensors(path):
    """Returns {name: numpy array (float32 or float64, numpy shape) or str (text entries)}."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:8]
    if magic not in (MAGIC_V1, MAGIC_V2):
        raise FormatError(f"{path}: bad magic (expected CNNCTNS1 or CNNCTNS2)")
    version2 = magic == MAGIC_V2
    try:
        (count,) = struct.unpack_from("<Q", data, 8)
        pos = 16
        tensors = {}
        for _ in range(count):
            (name_length,) = struct.unpack_from("<I", data, pos)
            pos += 4
            name = data[pos:pos + name_length].decode("utf-8")
            pos += name_length
            dtype = FLOAT32
            if version2:
                (dtype,) = struct.unpack_from("<B", data, pos)
                pos += 1
            (rank,) = struct.unpack_from("<I", data, pos)
            pos += 4
            extents = struct.unpack_from(f"<{rank}q", data, pos)
            pos += 8 * rank
            size = int(np.prod(extents, dtype=np.int64))
            if dtype == TEXT:
                if rank != 1:
                    raise FormatError(f"{path}: text entry '{name}' must have rank 1")
                if pos + size > len(data):
                    raise FormatError(f"{path}: truncated text for '{name}'")
                tensors[name] = data[pos:pos + size].decode("utf-8")
                pos += size
                continue
            if dtype not in (FLOAT32, FLOAT64):
                raise FormatError(f"{path}: unknown dtype {dtype} for '{name}'")
            item = "<f4" if dtype == FLOAT32 else "<f8"
            width = 4 if dtype == FLOAT32 else 8
            if pos + width * size > len(data):
                raise FormatError(f"{path}: truncated data for '{name}'")
            values = np.frombuffer(data, dtype=item, count=size, offset=pos)
            pos += width * size
            tensors[name] = values.reshape(tuple(reversed(extents))).copy()
    except struct.error as e:
        raise FormatError(f"{path}: truncated ({e})") from e
    return tensors


def write_tensors(path, tensors, float64=False):
    """Writes {name: numpy array (numpy shape) or str}.

    Arrays are stored as float32, or as float64 when `float64`; str values become text entries.
    Version 1 is written when every entry is float32, so older readers still understand it.
    """
    version2 = float64 or any(isinstance(v, str) for v in tensors.values())
    with open(path, "wb") as f:
        f.write(MAGIC_V2 if version2 else MAGIC_V1)
        f.write(struct.pack("<Q", len(tensors)))
        for name, value in tensors.items():
            encoded = name.encode("utf-8")
            f.write(struct.pack("<I", len(encoded)))
            f.write(encoded)
            if isinstance(value, str):
                text = value.encode("utf-8")
                f.write(struct.pack("<BIq", TEXT, 1, len(text)))
                f.write(text)
                continue
            item = "<f8" if float64 else "<f4"
            array = np.ascontiguousarray(np.asarray(value, dtype=item))
            if version2:
                f.write(struct.pack("<B", FLOAT64 if float64 else FLOAT32))
            extents = tuple(reversed(array.shape))
            f.write(struct.pack("<I", len(extents)))
            f.write(struct.pack(f"<{len(extents)}q", *extents))
            f.write(array.tobytes())


def split_cases(tensors):
    """Splits "<case>/<name>" entries into {case: {name: value}}; entries without a '/' form the
    single case "" (a file holding one case)."""
    cases = {}
    for name, value in tensors.items():
        case, slash, rest = name.partition("/")
        if not slash:
            case, rest = "", name
        cases.setdefault(case, {})[rest] = value
    return cases


def join_cases(results):
    """Inverse of split_cases: {case: {name: value}} -> {"<case>/<name>": value}."""
    out = {}
    for case, values in results.items():
        for name, value in values.items():
            out[f"{case}/{name}" if case else name] = value
    return out


def fail(message):
    sys.exit(f"{sys.argv[0]}: {message}")


# ---- cnnc layouts (innermost first) <-> numpy shapes <-> torch -----------------------------------
# activation (c, x, y, n) is numpy [n][y][x][c]; torch wants [n][c][y][x].
# flat activation (f, n) is numpy [n][f], the same as torch's.
# conv2d weight (co, kx, ky, ci/groups) is numpy [ci][ky][kx][co]; torch wants [co][ci][ky][kx].
# transposed conv2d weight (co/groups, kx, ky, ci) is numpy [ci][ky][kx][co]; torch wants
#   [ci][co/groups][ky][kx].
# dense weight (o, i) is numpy [i][o]; torch wants [o][i].

def conv_weight_to_torch(a):
    return a.transpose(3, 0, 1, 2)


def conv_weight_from_torch(a):
    return a.transpose(1, 2, 3, 0)


def dense_weight_to_torch(a):
    return a.T


def dense_weight_from_torch(a):
    return a.T
