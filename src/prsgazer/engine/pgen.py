"""Dosages read straight from a .pgen's bytes (plink-ng's PGEN specification): the header's variant
index and a compiled decoder of biallelic dosage records. See docs/engine.md ("Genotypes").

pgenlib's `read_dosages_range` decodes one variant at a time (~1.7 ns of CPU a genotype at 20,000
samples, three times what scoring it costs), reading each record with its own system call.
`PgenDosages` reads a chunk's records with one read per run of consecutive records (a buffer per
thread, reused) and decodes them in compiled code, on several threads, into the values pgenlib
gives: the record's dosage where it stores one (its 16-bit value × 2^-14, exact in float32), else the
hard call (0, 1, 2; −9 for missing). A dosage bitarray is expanded 32 samples at a time with LLVM's
masked expand-load (one AVX-512 VBMI2 instruction where the host has it; scalar code elsewhere, with the
same values): ~0.2 ns a sample instead of ~1.2 for a branch per bit. It also counts the missing values
it writes, so callers need not scan for them.

It decodes what biallelic dosage files hold: every main-track encoding (2-bit array; 1-bit array plus
difflist; difflists against one common category; LD-compressed against the last non-LD record, plain
or inverted), phased hard calls (skipped), dosages as a sample list, a bitarray or a dense array
(65535: no dosage), and phased dosages (not read: track 4 holds their sums). Files whose variant index
this does not read (fixed-width modes, an index in a separate file, 4-bit record types, which cannot
hold dosages) and records with multi-allelic hard calls are left to pgenlib: `open_dosages` returns
None, `PgenDosages.supports` says False. The index is read by `engine.pgen_index` (no numba).
tests/engine/test_pgen.py checks it against pgenlib on files written by pgenlib and by plink2 (LD
compression, phased hard calls, dense and listed dosages).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from prsgazer.engine.pgen_index import PgenIndex, read_index
from prsgazer.errors import InputError

#: 2^-14: a stored dosage unit (pgenlib's multiplier; exact in float32)
_UNIT = np.float32(0.00006103515625)
#: At most this many threads decode one call's records.
MAX_THREADS = 4
#: A thread is worth starting for this many records.
MIN_RECORDS_PER_THREAD = 32


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class PgenDosages:
    """Reads biallelic records of one .pgen into float32 ALT dosages, as pgenlib's `read_dosages_*` do."""

    def __init__(self, path: Path, index: PgenIndex, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.index = index
        #: threads decoding one call's records side by side (the compiled decoder releases the GIL)
        self.threads = max(1, threads if threads is not None else min(MAX_THREADS, _cores()))
        self._local = threading.local()  # a byte buffer per calling thread, reused across calls
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def supports(self, records: np.ndarray) -> bool:
        """Whether every record can be decoded here (none with multi-allelic hard calls)."""
        return not bool((self.index.vrtypes[records] & 0x08).any())

    def read(self, records: np.ndarray, out: np.ndarray, *, parallel: bool = True) -> int:
        """Dosages of `records` (increasing record indices) into `out` (C-contiguous float32,
        (len(records), n_samples)), in `threads` pieces decoded side by side unless not `parallel`.
        Returns how many values are missing (−9)."""
        records = np.asarray(records, dtype=np.int64)
        if out.dtype != np.float32 or not out.flags.c_contiguous or out.shape != (len(records), self.index.n_samples):
            raise ValueError(f"out must be C-contiguous float32 of shape {(len(records), self.index.n_samples)}")
        if len(records) == 0:
            return 0
        idx = self.index
        base = _ld_bases(idx.vrtypes, records)
        need = np.union1d(records, base[base >= 0])
        starts, ends = idx.offsets[need], idx.offsets[need + 1]
        pos = np.zeros(len(need) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=pos[1:])
        buf = self._buffer(int(pos[-1]))
        # consecutive records are contiguous in the file: one read per run
        cut = np.flatnonzero(need[1:] != need[:-1] + 1) + 1
        with open(self.path, "rb", buffering=0) as fh:
            for a, b in zip(np.concatenate([[0], cut]), np.concatenate([cut, [len(need)]]), strict=True):
                fh.seek(int(starts[a]))
                want = int(pos[b] - pos[a])
                if fh.readinto(memoryview(buf[pos[a] : pos[b]])) != want:  # type: ignore[arg-type]  # numpy arrays are buffers
                    raise InputError(f"{self.path.name} ends inside a variant record", file=self.path)
        which = np.searchsorted(need, records)
        base_at = np.where(base >= 0, np.searchsorted(need, np.maximum(base, 0)), -1)
        vrtypes = idx.vrtypes[need]
        parts = min(self.threads, max(1, len(records) // MIN_RECORDS_PER_THREAD)) if parallel else 1
        cuts = [len(records) * k // parts for k in range(parts + 1)]

        def piece(k: int) -> tuple[int, int]:
            return _decode(buf, pos, vrtypes, which, base_at, idx.n_samples, out, cuts[k], cuts[k + 1])

        if parts > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads - 1, thread_name_prefix="pgen-decode")
            others = [self._pool.submit(piece, k) for k in range(1, parts)]
            results = [piece(0)] + [f.result() for f in others]
        else:
            results = [piece(0)]
        err = next((e for e, _ in results if e >= 0), -1)
        missing = sum(m for _, m in results)
        if err >= 0:
            raise InputError(
                f"malformed dosage record (variant {int(records[err]) + 1} of the file)",
                file=self.path,
                hint="re-create the .pgen with plink2 (--make-pgen)",
            )
        return int(missing)

    def _buffer(self, size: int) -> np.ndarray:
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) < size:
            buf = np.empty(max(size + size // 8, 1 << 20), dtype=np.uint8)
            self._local.buf = buf
        return buf


def open_dosages(path: Path) -> PgenDosages | None:
    """A `PgenDosages` for `path`, or None when its layout is left to pgenlib."""
    index = read_index(path)
    return PgenDosages(path, index) if index is not None else None


# --------------------------------------------------------------------------------------------------
# compiled decoding


@njit(nogil=True, cache=True)
def _ld_bases(vrtypes, records):  # pragma: no cover - compiled
    """Per record: the record its main track is LD-compressed against (the last earlier record whose
    main track is not: bit 2 set or bit 1 clear), or −1."""
    out = np.full(records.shape[0], -1, dtype=np.int64)
    for q in range(records.shape[0]):
        r = records[q]
        t = vrtypes[r] & 7
        if t == 2 or t == 3:
            b = r - 1
            while b >= 0 and ((vrtypes[b] & 7) == 2 or (vrtypes[b] & 7) == 3):
                b -= 1
            out[q] = b
    return out


@njit(nogil=True, cache=True)
def _varint(buf, p, end):  # pragma: no cover - compiled
    """A base-128 varint at p: (value, next position); position −1 when it runs past `end`."""
    v = np.int64(0)
    shift = 0
    while p < end and shift < 35:
        x = buf[p]
        p += 1
        v |= np.int64(x & 0x7F) << shift
        if x < 128:
            return v, p
        shift += 7
    return 0, -1


@njit(nogil=True, cache=True)
def _difflist(buf, p, end, n, id_bytes, with_cats, ids, cats):  # pragma: no cover - compiled
    """Parse a difflist at p into `ids` (and 2-bit `cats` when `with_cats`): (length, next position);
    length −1 on malformed input."""
    length, p = _varint(buf, p, end)
    if p < 0 or length > n:
        return -1, p
    if length == 0:
        return 0, p
    groups = (length + 63) // 64
    first = p
    p += groups * id_bytes + groups - 1
    if with_cats:
        c = p
        p += (length + 3) // 4
        if p > end:
            return -1, p
        for k in range(length):
            cats[k] = (buf[c + (k >> 2)] >> (2 * (k & 3))) & 3
    if p > end:
        return -1, p
    s = np.int64(0)
    for k in range(length):
        if k & 63 == 0:
            s = np.int64(0)
            g = first + (k >> 6) * id_bytes
            for j in range(id_bytes):
                s |= np.int64(buf[g + j]) << (8 * j)
        else:
            d, p = _varint(buf, p, end)
            if p < 0:
                return -1, p
            s += d
        if s >= n:
            return -1, p
        ids[k] = s
    return length, p


@njit(nogil=True, cache=True)
def _main_track(buf, p, end, t, n, id_bytes, cat, ids, cats):  # pragma: no cover - compiled
    """Decode a non-LD main track (type t ≠ 2, 3) into `cat` (0 hom REF, 1 het, 2 hom ALT, 3 missing):
    the next position, −1 on malformed input."""
    if t == 0:
        nb = (n + 3) // 4
        if p + nb > end:
            return -1
        full = n // 4
        for j in range(full):  # four samples a byte, no division per sample
            x = buf[p + j]
            cat[4 * j] = x & 3
            cat[4 * j + 1] = (x >> 2) & 3
            cat[4 * j + 2] = (x >> 4) & 3
            cat[4 * j + 3] = x >> 6
        for i in range(4 * full, n):
            cat[i] = (buf[p + (i >> 2)] >> (2 * (i & 3))) & 3
        return p + nb
    if t == 5:  # every sample homozygous REF, nothing stored
        cat[:] = 0
        return p
    if t == 1:  # 1-bit: the two commonest categories, a bitarray choosing between them, then a difflist
        if p + 1 + (n + 7) // 8 > end:
            return -1
        code = buf[p]
        low = np.uint8(code >> 2)
        delta = np.uint8(code & 3)
        bits = p + 1
        for i in range(n):
            cat[i] = low + delta * ((buf[bits + (i >> 3)] >> (i & 7)) & 1)
        p = bits + (n + 7) // 8
    else:  # 4, 6, 7: every sample in category 0, 2 or 3 but the difflist's
        cat[:] = t - 4
    length, p = _difflist(buf, p, end, n, id_bytes, True, ids, cats)
    if length < 0:
        return -1
    for k in range(length):
        cat[ids[k]] = cats[k]
    return p


@intrinsic
def _expand32(typingctx, src, at, mask, out, to):
    """out[to:to + 32] where bit k of `mask` is set ← the next 16-bit little-endian values of `src` (bytes,
    from `at`) × 2^-14; the other entries stay. Returns how many values it read (the mask's popcount).
    `llvm.masked.expandload` reads only those values (no read past them)."""
    if not (
        isinstance(src, types.Array) and src.dtype == types.uint8 and src.ndim == 1
        and isinstance(out, types.Array) and out.dtype == types.float32 and out.ndim == 1 and out.layout == "C"
    ):  # fmt: skip
        raise TypingError("_expand32(uint8 bytes, offset, uint32 mask, float32 C row, offset)")
    sig = types.int64(src, types.int64, types.uint32, out, types.int64)

    def codegen(context, builder, signature, args):
        src_v, at_v, mask_v, out_v, to_v = args
        src_a = context.make_array(signature.args[0])(context, builder, src_v)
        out_a = context.make_array(signature.args[3])(context, builder, out_v)
        i16, f32 = ir.IntType(16), ir.FloatType()
        v16, vf, vb = ir.VectorType(i16, 32), ir.VectorType(f32, 32), ir.VectorType(ir.IntType(1), 32)
        src_p = builder.bitcast(builder.gep(src_a.data, [at_v]), i16.as_pointer())
        out_p = builder.bitcast(builder.gep(out_a.data, [to_v]), vf.as_pointer())
        lanes = builder.bitcast(mask_v, vb)
        expand = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(v16, [i16.as_pointer(), vb, v16]), "llvm.masked.expandload.v32i16"
        )
        values = builder.call(expand, [src_p, lanes, ir.Constant(v16, None)])
        scaled = builder.fmul(builder.uitofp(values, vf), ir.Constant(vf, [ir.Constant(f32, 2.0**-14)] * 32))
        builder.store(builder.select(lanes, scaled, builder.load(out_p, align=4)), out_p, align=4)
        ctpop = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), [ir.IntType(32)]), "llvm.ctpop.i32"
        )
        return builder.zext(builder.call(ctpop, [mask_v]), ir.IntType(64))

    return sig, codegen


@njit(nogil=True, cache=True)
def _bit_count(buf, p, nb):  # pragma: no cover - compiled
    """Set bits in bytes p..p+nb−1."""
    c = 0
    for j in range(nb):
        x = buf[p + j]
        x = (x & 0x55) + ((x >> 1) & 0x55)
        x = (x & 0x33) + ((x >> 2) & 0x33)
        c += (x & 0x0F) + (x >> 4)
    return c


@njit(nogil=True, cache=True)
def _record(buf, p, end, vrtype, n, id_bytes, cat, base_cat, ids, cats, out):  # pragma: no cover - compiled
    """One record into `out` (float32 row). `base_cat`: its LD base's categories (LD types). Returns the
    number of missing values (−9) in the row, or −1 on malformed input."""
    t = vrtype & 7
    if t == 2 or t == 3:
        cat[:] = base_cat
        length, p = _difflist(buf, p, end, n, id_bytes, True, ids, cats)
        if length < 0:
            return -1
        for k in range(length):
            cat[ids[k]] = cats[k]
        if t == 3:  # inverted: REF and ALT homozygotes swapped after patching
            for i in range(n):
                c = cat[i]
                cat[i] = 2 - c if c != 1 and c != 3 else c
    else:
        p = _main_track(buf, p, end, t, n, id_bytes, cat, ids, cats)
        if p < 0:
            return -1
    n_missing = 0
    for i in range(n):
        c = cat[i]
        out[i] = np.float32(-9.0) if c == 3 else np.float32(c)
        n_missing += c == 3
    if vrtype & 0x10:  # phased hard calls: skip them (a flag bit, phasepresent bits, phaseinfo bits)
        hets = 0
        for i in range(n):
            hets += cat[i] == 1
        head = 1 + hets // 8
        if p + head > end:
            return -1
        if buf[p] & 1:
            p += head + (_bit_count(buf, p, head) - 1 + 7) // 8
        else:
            p += head
    kind = vrtype & 0x60
    if kind == 0x20:  # a list of the samples with a dosage, then their dosages
        length, p = _difflist(buf, p, end, n, id_bytes, False, ids, cats)
        if length < 0 or p + 2 * length > end:
            return -1
        for k in range(length):
            out[ids[k]] = np.float32(np.uint16(buf[p + 2 * k]) | (np.uint16(buf[p + 2 * k + 1]) << 8)) * _UNIT
    elif kind == 0x40:  # every sample's dosage; 65535: none (the hard call stays)
        if p + 2 * n > end:
            return -1
        for i in range(n):
            v = np.uint16(buf[p + 2 * i]) | (np.uint16(buf[p + 2 * i + 1]) << 8)
            out[i] = np.float32(v) * _UNIT if v != 65535 else out[i]
    elif kind == 0x60:  # a bitarray of the samples with a dosage, then their dosages
        nb = (n + 7) // 8
        if p + nb + 2 * _bit_count(buf, p, nb) > end:
            return -1
        v = p + nb
        for w in range(n // 32):
            q = p + 4 * w
            mask = np.uint32(buf[q]) | (np.uint32(buf[q + 1]) << 8) | (np.uint32(buf[q + 2]) << 16)
            mask |= np.uint32(buf[q + 3]) << 24
            v += 2 * _expand32(buf, v, mask, out, 32 * w)  # type: ignore[call-arg]  # numba intrinsic: typingctx is implicit
        for i in range(32 * (n // 32), n):
            if (buf[p + (i >> 3)] >> (i & 7)) & 1:
                out[i] = np.float32(np.uint16(buf[v]) | (np.uint16(buf[v + 1]) << 8)) * _UNIT
                v += 2
    if kind and n_missing:  # a dosage can stand where the hard call is missing
        n_missing = 0
        for i in range(n):
            n_missing += out[i] == -9.0
    return n_missing


@njit(nogil=True, cache=True)
def _decode(buf, pos, vrtypes, which, base_at, n, out, first, stop):  # pragma: no cover - compiled
    """Decode requested records first..stop−1: record q (bytes pos[which[q]]:pos[which[q] + 1] of buf) into
    out[q]; an LD-compressed one after its base (buffer entry base_at[q], decoded once for consecutive
    records sharing it). Returns (−1, missing values), or (the first q whose record is malformed, 0)."""
    id_bytes = 1
    x = n >> 8
    while x:
        id_bytes += 1
        x >>= 8
    cat = np.empty(n, dtype=np.uint8)
    base_cat = np.empty(n, dtype=np.uint8)
    ids = np.empty(n + 1, dtype=np.int64)
    cats = np.empty(n + 1, dtype=np.uint8)
    have_base = -1
    missing = 0
    for q in range(first, stop):
        b = base_at[q]
        if b >= 0 and b != have_base:
            if _main_track(buf, pos[b], pos[b + 1], vrtypes[b] & 7, n, id_bytes, base_cat, ids, cats) < 0:
                return q, 0
            have_base = b
        e = which[q]
        got = _record(buf, pos[e], pos[e + 1], vrtypes[e], n, id_bytes, cat, base_cat, ids, cats, out[q])
        if got < 0:
            return q, 0
        missing += got
        if vrtypes[e] & 7 != 2 and vrtypes[e] & 7 != 3 and q + 1 < stop and base_at[q + 1] == e:
            base_cat[:] = cat  # the base of the LD-compressed records that follow
            have_base = e
    return -1, missing
