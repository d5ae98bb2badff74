#!/usr/bin/python3
"""An independent GGUF reader in Python/NumPy: the test oracle's view of a model file.

It shares no code with the C++ reader (src/gguf) and is written from the format's
documentation: a little-endian header ("GGUF", version 2 or 3, tensor and key counts),
key/value metadata, tensor infos, then tensor data at `general.alignment` (default 32).
Tensors are dequantized to float32 from the documented ggml block layouts.

Usage as a tool:
    gguf_reader.py MODEL.gguf                  list metadata and tensors
    gguf_reader.py MODEL.gguf --dequant NAME --out FILE.npy
                                               write a tensor as float32, shape [ne1, ne0]
Runs only under Debian's /usr/bin/python3 with python3-numpy; never used at run time.
"""

import struct
import sys

import numpy as np

# Metadata value types (gguf_type).
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}
_NP_SCALAR = {
    UINT8: np.uint8, INT8: np.int8, UINT16: np.uint16, INT16: np.int16, UINT32: np.uint32,
    INT32: np.int32, FLOAT32: np.float32, BOOL: np.bool_, UINT64: np.uint64, INT64: np.int64,
    FLOAT64: np.float64,
}

# Tensor types this oracle dequantizes: number -> (name, elements per block, bytes per block).
TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    30: ("BF16", 1, 2),
}


class GGUFError(Exception):
    pass


class Tensor:
    def __init__(self, name, dims, ggml_type, offset):
        self.name = name
        self.dims = dims          # ne[0] (fastest varying, a row's length) first
        self.type = ggml_type
        self.offset = offset      # relative to the start of the data section
        self.data_start = 0       # absolute, set once the data section is known

    @property
    def n_elements(self):
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def type_name(self):
        return TYPES[self.type][0] if self.type in TYPES else "type%d" % self.type

    def n_bytes(self):
        if self.type not in TYPES:
            raise GGUFError("tensor %s: type %d is not supported by the oracle" % (self.name, self.type))
        _, block, size = TYPES[self.type]
        if self.dims and self.dims[0] % block != 0:
            raise GGUFError("tensor %s: row length %d is not a multiple of the %s block size %d"
                            % (self.name, self.dims[0], self.type_name, block))
        return self.n_elements // block * size


class GGUFFile:
    """Parses the whole header eagerly; tensor data is read on demand from a memory map."""

    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        self.metadata = {}
        self.metadata_types = {}
        self.tensors = {}
        self._parse()

    # -- primitive readers, bounds-checked --
    def _take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError("%s: unexpected end of file at offset %d (need %d bytes)" % (self.path, self.pos, n))
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def _scalar(self, fmt):
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _string(self):
        n = self._scalar("<Q")
        return self._take(n).decode("utf-8", errors="surrogateescape")

    def _value(self, vtype):
        if vtype in _SCALAR:
            return self._scalar(_SCALAR[vtype])
        if vtype == STRING:
            return self._string()
        if vtype == ARRAY:
            etype = self._scalar("<I")
            count = self._scalar("<Q")
            if etype in _NP_SCALAR:
                dt = np.dtype(_NP_SCALAR[etype]).newbyteorder("<")
                raw = self._take(count * dt.itemsize)
                return np.frombuffer(raw, dtype=dt).copy()
            if etype in (STRING, ARRAY):
                return [self._value(etype) for _ in range(count)]
            raise GGUFError("%s: array of unknown value type %d at offset %d" % (self.path, etype, self.pos))
        raise GGUFError("%s: unknown value type %d at offset %d" % (self.path, vtype, self.pos))

    def _parse(self):
        magic = self._take(4)
        if magic != b"GGUF":
            raise GGUFError("%s: not a GGUF file (magic %r)" % (self.path, magic))
        self.version = self._scalar("<I")
        if self.version not in (2, 3):
            raise GGUFError("%s: GGUF version %d is not supported (2 or 3)" % (self.path, self.version))
        n_tensors = self._scalar("<Q")
        n_kv = self._scalar("<Q")
        for _ in range(n_kv):
            key = self._string()
            vtype = self._scalar("<I")
            self.metadata[key] = self._value(vtype)
            self.metadata_types[key] = vtype
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._scalar("<I")
            if n_dims > 4:
                raise GGUFError("%s: tensor %s has %d dimensions (at most 4)" % (self.path, name, n_dims))
            dims = [self._scalar("<Q") for _ in range(n_dims)]
            ttype = self._scalar("<I")
            offset = self._scalar("<Q")
            self.tensors[name] = Tensor(name, dims, ttype, offset)
        self.alignment = int(self.metadata.get("general.alignment", 32))
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GGUFError("%s: general.alignment %d is not a power of two" % (self.path, self.alignment))
        self.data_offset = (self.pos + self.alignment - 1) // self.alignment * self.alignment
        for t in self.tensors.values():
            if t.offset % self.alignment != 0:
                raise GGUFError("%s: tensor %s offset %d is not aligned to %d"
                                % (self.path, t.name, t.offset, self.alignment))
            t.data_start = self.data_offset + t.offset
            if t.type in TYPES and t.data_start + t.n_bytes() > len(self.buf):
                raise GGUFError("%s: tensor %s extends past the end of the file" % (self.path, t.name))

    # -- access --
    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def raw(self, name):
        t = self.tensors[name]
        return np.asarray(self.buf[t.data_start:t.data_start + t.n_bytes()])

    def tensor(self, name):
        """Dequantized float32 array shaped like numpy sees GGUF: reversed dims ([ne1, ne0])."""
        if name not in self.tensors:
            raise GGUFError("%s: no tensor named %s" % (self.path, name))
        t = self.tensors[name]
        flat = dequantize(self.raw(name), t.type, t.n_elements)
        shape = tuple(reversed(t.dims)) if t.dims else (1,)
        return flat.reshape(shape)


# ---------------------------------------------------------------------------------------------
# Dequantization. Each function takes the raw bytes of whole blocks and returns float32 values.
# Layouts (ggml's, little-endian):
#   Q8_0  [d f16][qs int8 ×32]                       x = d·q
#   Q4_0  [d f16][qs u8 ×16]                         x_j = d·(lo(qs_j) − 8), x_{j+16} = d·(hi(qs_j) − 8)
#   Q4_1  [d f16][m f16][qs ×16]                     x = d·q + m (nibbles as Q4_0)
#   Q5_0  [d f16][qh u32][qs ×16]                    5th bit of x_j is bit j of qh; x = d·(q − 16)
#   Q5_1  [d f16][m f16][qh u32][qs ×16]             x = d·q + m
#   Q4_K  [d f16][dmin f16][scales 12][qs 128]       8 sub-blocks of 32, 6-bit scale/min each
#   Q5_K  [d][dmin][scales 12][qh 32][qs 128]        as Q4_K with a 5th bit from qh
#   Q6_K  [ql 128][qh 64][scales int8 ×16][d f16]    16 sub-blocks of 16, q − 32
# ---------------------------------------------------------------------------------------------

def _f16(b):
    return b.copy().view("<f2").astype(np.float32)


def _blocks(raw, size):
    raw = np.asarray(raw, dtype=np.uint8)
    if raw.size % size:
        raise GGUFError("%d bytes is not a whole number of %d-byte blocks" % (raw.size, size))
    return raw.reshape(-1, size)


def _nibbles(qs):
    """[nb, 16] bytes → [nb, 32] values: low nibbles first, then high nibbles."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int32)


def deq_q8_0(raw):
    b = _blocks(raw, 34)
    d = _f16(b[:, 0:2])
    q = b[:, 2:34].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(-1)


def deq_q4_0(raw):
    b = _blocks(raw, 18)
    d = _f16(b[:, 0:2])
    q = _nibbles(b[:, 2:18]) - 8
    return (d * q).astype(np.float32).reshape(-1)


def deq_q4_1(raw):
    b = _blocks(raw, 20)
    d = _f16(b[:, 0:2])
    m = _f16(b[:, 2:4])
    q = _nibbles(b[:, 4:20])
    return (d * q + m).astype(np.float32).reshape(-1)


def _q5_high_bits(qh_bytes):
    qh = qh_bytes.copy().view("<u4").astype(np.uint32)           # [nb, 1]
    bits = (qh >> np.arange(32, dtype=np.uint32)) & 1             # bit j → value j
    return (bits << 4).astype(np.int32)


def deq_q5_0(raw):
    b = _blocks(raw, 22)
    d = _f16(b[:, 0:2])
    q = (_nibbles(b[:, 6:22]) | _q5_high_bits(b[:, 2:6])) - 16
    return (d * q).astype(np.float32).reshape(-1)


def deq_q5_1(raw):
    b = _blocks(raw, 24)
    d = _f16(b[:, 0:2])
    m = _f16(b[:, 2:4])
    q = _nibbles(b[:, 8:24]) | _q5_high_bits(b[:, 4:8])
    return (d * q + m).astype(np.float32).reshape(-1)


def _k4_scales(s):
    """scales[12] → (sc[8], m[8]), 6 bits each: j < 4 in the low 6 bits of bytes j / j+4; j ≥ 4
    has its low 4 bits in byte j+4 (nibbles) and its top 2 bits in the top of bytes j−4 / j."""
    s = s.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    m = np.empty((s.shape[0], 8), np.int32)
    sc[:, 0:4] = s[:, 0:4] & 63
    m[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, m


def _k_low_nibbles(qs):
    """qs[128] → q[256] in value order: 32-byte group g gives sub-block 2g (low nibbles) then
    sub-block 2g+1 (high nibbles)."""
    g = qs.reshape(qs.shape[0], 4, 32).astype(np.int32)
    return np.stack([g & 0x0F, g >> 4], axis=2).reshape(qs.shape[0], 256)


def deq_q4_k(raw):
    b = _blocks(raw, 144)
    d = _f16(b[:, 0:2])
    dmin = _f16(b[:, 2:4])
    sc, m = _k4_scales(b[:, 4:16])
    q = _k_low_nibbles(b[:, 16:144]).reshape(-1, 8, 32)
    y = d[:, :, None] * sc[:, :, None] * q - dmin[:, :, None] * m[:, :, None]
    return y.astype(np.float32).reshape(-1)


def deq_q5_k(raw):
    b = _blocks(raw, 176)
    d = _f16(b[:, 0:2])
    dmin = _f16(b[:, 2:4])
    sc, m = _k4_scales(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int32)                                  # [nb, 32]
    high = (qh[:, None, :] >> np.arange(8)[None, :, None]) & 1          # sub-block j ← bit j of qh[l]
    q = _k_low_nibbles(b[:, 48:176]).reshape(-1, 8, 32) + 16 * high
    y = d[:, :, None] * sc[:, :, None] * q - dmin[:, :, None] * m[:, :, None]
    return y.astype(np.float32).reshape(-1)


def deq_q6_k(raw):
    b = _blocks(raw, 210)
    nb = b.shape[0]
    ql = b[:, 0:128].astype(np.int32).reshape(nb, 2, 64)    # per half of 128 values
    qh = b[:, 128:192].astype(np.int32).reshape(nb, 2, 32)
    scales = b[:, 192:208].copy().view(np.int8).astype(np.float32).reshape(nb, 16)
    d = _f16(b[:, 208:210])
    q = np.empty((nb, 2, 4, 32), np.int32)
    # Value l + 32k of a half: low 4 bits from ql[l + 32(k&1)] (low nibble if k < 2), top 2 bits
    # from bits 2k..2k+1 of qh[l].
    for k in range(4):
        lo = ql[:, :, 32 * (k & 1):32 * (k & 1) + 32]
        lo = (lo & 0x0F) if k < 2 else (lo >> 4)
        q[:, :, k, :] = (lo | (((qh >> (2 * k)) & 3) << 4)) - 32
    q = q.reshape(nb, 16, 16)                                   # 16 sub-blocks of 16
    y = d[:, :, None] * scales[:, :, None] * q
    return y.astype(np.float32).reshape(-1)


def dequantize(raw, ggml_type, n_elements=None):
    raw = np.asarray(raw, dtype=np.uint8)
    if ggml_type == 0:
        out = raw.copy().view("<f4").astype(np.float32)
    elif ggml_type == 1:
        out = raw.copy().view("<f2").astype(np.float32)
    elif ggml_type == 30:
        out = (raw.copy().view("<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        fn = {2: deq_q4_0, 3: deq_q4_1, 6: deq_q5_0, 7: deq_q5_1, 8: deq_q8_0,
              12: deq_q4_k, 13: deq_q5_k, 14: deq_q6_k}.get(ggml_type)
        if fn is None:
            raise GGUFError("tensor type %d is not supported by the oracle" % ggml_type)
        out = fn(raw)
    if n_elements is not None and out.size != n_elements:
        raise GGUFError("dequantized %d values, expected %d" % (out.size, n_elements))
    return out


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--dequant", help="tensor name to dequantize")
    ap.add_argument("--out", help=".npy file for --dequant")
    a = ap.parse_args(argv)
    try:
        f = GGUFFile(a.model)
        if a.dequant:
            arr = f.tensor(a.dequant)
            if a.out:
                np.save(a.out, arr)
            else:
                print(arr)
            return 0
        print("GGUF v%d, %d keys, %d tensors, alignment %d" % (f.version, len(f.metadata), len(f.tensors),
                                                               f.alignment))
        for k, v in f.metadata.items():
            if isinstance(v, (list, np.ndarray)) and len(v) > 8:
                v = "[%d items]" % len(v)
            print("  %s = %s" % (k, v))
        for t in f.tensors.values():
            print("  %-32s %-5s %s" % (t.name, t.type_name, t.dims))
    except GGUFError as e:
        print("gguf_reader: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
