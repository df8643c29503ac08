#!/usr/bin/env python3
"""Reads .cnnp parameter files (layout in runtime/param_file.h) for the end-to-end tests.

  cnnp.py same A B                  every tensor of A equals B's bit for bit (same names)
  cnnp.py compare A B NAME...       per tensor: "same" or "changed"; NAME is a prefix
                                    (a layer name selects its weight and bias)
  cnnp.py meta FILE KEY             prints one key of the meta JSON
"""
import json
import struct
import sys
import zlib


def read(path):
    data = open(path, "rb").read()
    if data[:8] != b"CNNCPRM\0":
        sys.exit(f"{path}: not a cnnp file")
    version, header_len, file_len = struct.unpack_from("<IIQ", data, 8)
    if file_len != len(data) or zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        sys.exit(f"{path}: truncated or corrupt")
    pos = 24

    def u32():
        nonlocal pos
        (v,) = struct.unpack_from("<I", data, pos)
        pos += 4
        return v

    def text():
        nonlocal pos
        n = u32()
        s = data[pos:pos + n].decode()
        pos += n
        return s

    model = text()
    heads = []
    for _ in range(u32()):
        name = text()
        rank = u32()
        extents = struct.unpack_from(f"<{rank}q", data, pos)
        pos += 8 * rank
        heads.append((name, extents))
    (meta_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    meta = json.loads(data[pos:pos + meta_len] or b"{}")
    pos += meta_len
    tensors = {}
    for name, extents in heads:
        n = 1
        for e in extents:
            n *= e
        tensors[name] = (extents, data[pos:pos + 4 * n])
        pos += 4 * n
    return model, tensors, meta


def main():
    cmd = sys.argv[1]
    if cmd == "same":
        _, a, _ = read(sys.argv[2])
        _, b, _ = read(sys.argv[3])
        if a.keys() != b.keys():
            sys.exit(f"different tensors: {sorted(a.keys() ^ b.keys())}")
        differ = [n for n in a if a[n] != b[n]]
        if differ:
            sys.exit(f"{len(differ)} of {len(a)} tensors differ: {', '.join(differ)}")
        print(f"all {len(a)} tensors identical")
    elif cmd == "compare":
        _, a, _ = read(sys.argv[2])
        _, b, _ = read(sys.argv[3])
        for prefix in sys.argv[4:]:
            names = [n for n in a if n == prefix or n.startswith(prefix + ".")]
            if not names:
                sys.exit(f"no tensor named {prefix}")
            for n in names:
                print(n, "same" if a[n] == b[n] else "changed")
    elif cmd == "meta":
        _, _, meta = read(sys.argv[2])
        print(json.dumps(meta[sys.argv[3]]) if not isinstance(meta[sys.argv[3]], str) else meta[sys.argv[3]])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
