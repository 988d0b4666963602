"""VCF dosage fields (`DS`, `HDS`, `GP`) → integer ALT dosages in plink2's units (1/16384 of an
allele), computed exactly as plink2 `--vcf … dosage=…` imports them. Used by `genotypes.vcf`.
See docs/engine.md ("Dosages").

Per call and ALT allele (one output row per (record, ALT), as the normaliser splits records):

- `DS` (Number=A): the ALT's value; doubled when the GT has one allele (plink2 reads haploid
  dosages on a 0..1 scale; a GT of `.` counts as one allele too, as in plink2).
- `HDS` (two haplotype dosages, biallelic records only): their sum; a single value is doubled.
- `GP` (Number=G): the expected ALT count, Σ P(genotype) × copies / Σ P (plink2 divides by the sum
  of the probabilities); haploid calls (as many values as alleles) count 2 × P(ALT) / Σ P.

Values are rounded as plink2 rounds them, ⌊x · 16384 + 0.5⌋. A call whose field is absent or `.` has
no dosage here (the caller falls back to the next field, then GT); `GP` of all zeros and `HDS` with
more than two values are missing calls (plink2's "force missing"). Values that are not numbers, a
`DS` below 0 or above 2, probabilities outside [0, 1] and a wrong number of values are InputErrors
naming the line and the sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from prsgazer.engine.genotypes.source import DOSAGE_SCALE
from prsgazer.errors import InputError

#: No dosage in this field for the call: fall back to the next field, then GT.
NO_DOSAGE = -1
#: The field says the call is missing (plink2 "force missing"): no fallback.
FORCE_MISSING = -2

_MISSING_TEXT = r"^[.?](?:[^0-9]|$)"


def field_dosages(
    field: str,
    text: pl.Series,
    *,
    n_alts: np.ndarray,
    one_allele: np.ndarray,
    row_rec: np.ndarray,
    row_allele: np.ndarray,
    where: tuple[Path, int, list[str]],
) -> np.ndarray:
    """Integer dosages (int32, units of 1/16384; NO_DOSAGE / FORCE_MISSING) of one FORMAT field, shape
    (len(row_rec), n_samples).

    Args:
        field: "DS", "HDS" or "GP".
        text: the field's text per call, sample-major (call of record r, sample j at j · n_records + r),
            null where the record's FORMAT lacks the field.
        n_alts: ALT alleles per record (symbolic ones included: they are counted by Number=A/G).
        one_allele: (n_records, n_samples) the call's GT has a single allele (haploid, or `.`).
        row_rec, row_allele: each output row's record and 1-based ALT index.
        where: (file, line of record 0, sample names) for error messages.
    """
    nrec = len(n_alts)
    n = len(where[2])
    out = np.full((len(row_rec), n), NO_DOSAGE, dtype=np.int32)
    if len(row_rec) == 0 or n == 0:
        return out
    for k in np.unique(n_alts[np.unique(row_rec)]):
        recs = np.flatnonzero(n_alts == k)
        rows = np.flatnonzero(n_alts[row_rec] == k)
        if field == "HDS" and k > 1:
            continue  # haplotype dosages of multi-allelic records have no agreed layout: not used
        # the calls of these records, sample-major: (n, len(recs))
        cells = (np.arange(n)[:, None] * nrec + recs[None, :]).reshape(-1)
        part = text if len(recs) == nrec else text.gather(cells)
        vals = _values(field, part, int(k), one_allele[recs].T.reshape(-1), recs, where)  # (cells, k)
        # row (record r, allele a) ← vals[cell (j, r), a - 1]
        local = np.searchsorted(recs, row_rec[rows])
        for a in np.unique(row_allele[rows]):
            sel = rows[row_allele[rows] == a]
            cols = local[row_allele[rows] == a]
            grid = vals[:, a - 1].reshape(n, len(recs))  # (sample, record)
            out[sel] = grid[:, cols].T
    return out


def _missing(text: pl.Series, unread: np.ndarray) -> np.ndarray:
    """Cells without a value: absent (null) or `.`/`?` not followed by a digit (plink2's test), looked
    for among the `unread` cells only (those whose first value is not a number: few)."""
    missing = np.zeros(len(text), dtype=bool)
    idx = np.flatnonzero(unread)
    if len(idx):
        sub = text.gather(idx)
        missing[idx] = (sub.is_null() | sub.str.contains(_MISSING_TEXT)).to_numpy()
    return missing


def _values(
    field: str,
    text: pl.Series,
    k: int,
    haploid: np.ndarray,
    recs: np.ndarray,
    where: tuple[Path, int, list[str]],
) -> np.ndarray:
    """(cells, k) integer dosages of records with k ALTs from their field text."""
    out = np.full((len(text), k), NO_DOSAGE, dtype=np.int32)
    if field == "DS" and k == 1:  # the common case, in as few passes as possible
        num = text.cast(pl.Float64, strict=False).to_numpy()
        unread = np.isnan(num)
        ok = ~_missing(text, unread) if unread.any() else None
        if ok is not None:
            _check_numbers(unread & ok, text, recs, where, field)
        if haploid.any():
            num = np.where(haploid, num * 2, num)
        bad = (num < 0) | (num > 2)  # NaN compares False
        _check_range(bad[:, None], text, recs, where, field, "a DS between 0 and 2")
        q = _quantize(np.nan_to_num(num) if ok is not None else num, DOSAGE_SCALE)
        out[:, 0] = q if ok is None else np.where(ok, q, NO_DOSAGE)
        return out
    else:
        split = text.str.split(",")
        counts = split.list.len().fill_null(0).to_numpy()
        first = split.list.get(0, null_on_oob=True).cast(pl.Float64, strict=False).to_numpy()
        ok = ~_missing(text, np.isnan(first))
        if not ok.any():
            return out
        width = int(counts[ok].max())
        parts = np.full((len(text), width), np.nan)
        for i in range(width):
            col = split.list.get(i, null_on_oob=True)
            num = col.cast(pl.Float64, strict=False).to_numpy()
            _check_numbers(np.isnan(num) & ok & (counts > i), col, recs, where, field)
            parts[:, i] = num
    if field == "DS":
        _check_count(ok & (counts != k), counts, text, recs, where, field, f"{k} (one per ALT allele)")
        d = np.where(haploid[:, None], parts[:, :k] * 2, parts[:, :k])
        _check_range(ok[:, None] & ((d < 0) | (d > 2)), text, recs, where, field, "a DS between 0 and 2")
        out[ok] = _quantize(d[ok], DOSAGE_SCALE)
    elif field == "HDS":  # k == 1
        out_of_range = ok[:, None] & ((parts < 0) | (parts > 1))
        _check_range(out_of_range, text, recs, where, field, "haplotype dosages between 0 and 1")
        one = ok & (counts == 1)
        two = ok & (counts == 2)
        out[one, 0] = _quantize(parts[one, 0], 2 * DOSAGE_SCALE)
        out[two, 0] = _quantize(parts[two, 0] + parts[two, 1], DOSAGE_SCALE)
        out[ok & (counts > 2), 0] = FORCE_MISSING  # polyploid: plink2 makes the call missing
    else:  # GP
        diploid_ct = (k + 1) * (k + 2) // 2
        _check_count(ok & (counts != diploid_ct) & (counts != k + 1), counts, text, recs, where, field,
                     f"{diploid_ct} (diploid) or {k + 1} (haploid)")  # fmt: skip
        out_of_range = ok[:, None] & ((parts < 0) | (parts > 1))
        _check_range(out_of_range, text, recs, where, field, "probabilities between 0 and 1")
        dip = ok & (counts == diploid_ct)
        hap = ok & (counts == k + 1)
        if k == 1:
            p = parts[dip]
            denom = p[:, 0] + p[:, 1] + p[:, 2]
            zero = denom <= 0
            with np.errstate(invalid="ignore", divide="ignore"):
                out[dip, 0] = np.where(zero, FORCE_MISSING, _quantize((p[:, 1] + 2 * p[:, 2]) / denom, DOSAGE_SCALE))
            p = parts[hap]
            denom = p[:, 0] + p[:, 1]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[hap, 0] = np.where(denom <= 0, FORCE_MISSING, _quantize(2 * p[:, 1] / denom, DOSAGE_SCALE))
        else:
            # genotype (j, l), j <= l, is value l(l + 1)/2 + j (VCF order); copies of ALT a = [j == a] + [l == a]
            copies = np.zeros((diploid_ct, k))
            for ll in range(k + 1):
                for j in range(ll + 1):
                    for a in range(1, k + 1):
                        copies[ll * (ll + 1) // 2 + j, a - 1] = (j == a) + (ll == a)
            for mask, weights in ((dip, copies), (hap, 2 * np.eye(k + 1)[:, 1:])):
                p = parts[mask][:, : weights.shape[0]]
                denom = p.sum(axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    x = (p @ weights) / denom[:, None]
                out[mask] = np.where((denom <= 0)[:, None], FORCE_MISSING, _quantize(np.nan_to_num(x), DOSAGE_SCALE))
    return out


def _quantize(x: np.ndarray, scale: int) -> np.ndarray:
    """plink2's rounding: (int)(x · scale + 0.5), for x ≥ 0."""
    return np.floor(x * scale + 0.5).astype(np.int32)


def _fail(bad: np.ndarray, text: pl.Series, recs: np.ndarray, where: tuple[Path, int, list[str]], msg: str) -> None:
    cell = int(np.flatnonzero(bad)[0])
    r, j = cell % len(recs), cell // len(recs)
    src, line0, samples = where
    raise InputError(msg.format(value=text[cell]), file=src, line=line0 + int(recs[r]), field=samples[j])


def _check_numbers(bad: np.ndarray, text: pl.Series, recs: np.ndarray, where: tuple[Path, int, list[str]],
                   field: str) -> None:  # fmt: skip
    if bad.any():
        _fail(bad, text, recs, where, f"{field} value {{value!r}} is not a number")


def _check_count(bad: np.ndarray, counts: np.ndarray, text: pl.Series, recs: np.ndarray,
                 where: tuple[Path, int, list[str]], field: str, expected: str) -> None:  # fmt: skip
    if bad.any():
        _fail(bad, text, recs, where, f"{field} {{value!r}} has the wrong number of values: expected {expected}")


def _check_range(bad: np.ndarray, text: pl.Series, recs: np.ndarray, where: tuple[Path, int, list[str]],
                 field: str, expected: str) -> None:  # fmt: skip
    rows = np.asarray(bad.any(axis=1))
    if rows.any():
        _fail(rows, text, recs, where, f"{field} {{value!r}} is out of range: expected {expected}")
