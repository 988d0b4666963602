"""A .pgen's header (plink-ng's PGEN specification): the variant record types and byte offsets of a
variable-width file, and whether any record stores dosages. No compiled code: opening a .pgen reads
this without loading numba (`engine.pgen` decodes the records). See docs/engine.md ("Genotypes").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

#: Records per block of the variant index.
BLOCK = 65536


class PgenIndex:
    """Record types and byte offsets of a variable-width .pgen (storage mode 0x10 or 0x11, 8-bit types)."""

    def __init__(self, n_samples: int, vrtypes: np.ndarray, offsets: np.ndarray) -> None:
        self.n_samples = n_samples
        self.vrtypes = vrtypes  # uint8 per record
        self.offsets = offsets  # int64, n_records + 1: record r is bytes offsets[r]:offsets[r + 1]


def _blocks(
    fh: BinaryIO, n_records: int, control: int, *, lengths: bool
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
    """Per index block (`fh` just after the 12-byte head): its first record, the file offset of that
    record, its record types and — with `lengths` — the records' byte lengths (skipped otherwise)."""
    len_bytes = (control & 0x03) + 1
    ac_bytes = (control >> 4) & 0x03
    provisional = (control >> 6) == 3
    n_blocks = (n_records + BLOCK - 1) // BLOCK
    starts = np.frombuffer(fh.read(8 * n_blocks), dtype="<u8").astype(np.int64)
    for b in range(n_blocks):
        lo = b * BLOCK
        k = min(BLOCK, n_records - lo)
        vrtypes = np.frombuffer(fh.read(k), dtype=np.uint8)
        sizes = None
        if lengths:
            raw = np.frombuffer(fh.read(k * len_bytes), dtype=np.uint8).reshape(k, len_bytes).astype(np.int64)
            sizes = np.zeros(k, dtype=np.int64)
            for j in range(len_bytes):
                sizes |= raw[:, j] << (8 * j)
        else:
            fh.seek(k * len_bytes, 1)
        fh.seek(k * ac_bytes + (((k + 7) // 8) if provisional else 0), 1)
        yield lo, int(starts[b]), vrtypes, sizes


def read_index(path: Path) -> PgenIndex | None:
    """The variant index in the header of `path`, or None for a layout `engine.pgen` does not read."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:2] != b"\x6c\x1b" or head[2] not in (0x10, 0x11):
            return None
        m = int.from_bytes(head[3:7], "little")
        n = int.from_bytes(head[7:11], "little")
        control = head[11]
        layout = control & 0x0F
        if layout < 4 or layout > 7 or n == 0:  # 4-bit record types hold no dosages; 8-15 are reserved
            return None
        vrtypes = np.empty(m, dtype=np.uint8)
        offsets = np.empty(m + 1, dtype=np.int64)
        for lo, start, types, sizes in _blocks(fh, m, control, lengths=True):
            assert sizes is not None
            k = len(types)
            vrtypes[lo : lo + k] = types
            offsets[lo] = start
            np.cumsum(sizes, out=offsets[lo + 1 : lo + k + 1])
            offsets[lo + 1 : lo + k + 1] += start
    if m == 0:
        offsets[0] = 0
    return PgenIndex(n, vrtypes, offsets)


def has_dosages(path: Path) -> bool:
    """Whether a .pgen stores dosages for any variant (bits 5-6 of a variant record type, pgen spec
    §"Variant record types"). Read from the header only; a layout this reader does not know (the
    index in a separate file) counts as "may have dosages": reading dosages is right either way."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 3 or head[:2] != b"\x6c\x1b":
            return False
        mode = head[2]
        if mode in (0x01, 0x02):  # plink1 .bed; fixed-width hard calls
            return False
        if mode in (0x03, 0x04):  # fixed-width dosages
            return True
        if mode not in (0x10, 0x11) or len(head) < 12:
            return True
        control = head[11]
        if control & 0x0F < 4:  # 4-bit record types: no room for the dosage bits
            return False
        m = int.from_bytes(head[3:7], "little")
        return any(bool((types & 0x60).any()) for _, _, types, _ in _blocks(fh, m, control, lengths=False))
