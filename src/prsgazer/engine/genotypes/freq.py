"""Reference allele frequencies for mean imputation. See docs/engine.md ("Missing genotypes").

Accepts a plink2 `.afreq` (`#CHROM ID REF ALT … ALT_FREQS`, matched to target rows by ID and
alleles, as plink2 `--read-freq` does) or a table with `chrom pos ref alt alt_freq` columns
(matched by position and alleles). Swapped REF/ALT is matched too (frequency 1 − f).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from prsgazer.engine.common import chrom_expr
from prsgazer.errors import InputError


def read_frequencies(path: str | Path) -> pl.DataFrame:
    """A frequency table: columns chrom, pos (or null), id (or null), ref, alt, alt_freq."""
    p = Path(path)
    if not p.exists():
        raise InputError("frequency file does not exist", file=p)
    try:
        df = pl.read_csv(p, separator="\t", infer_schema=False, quote_char=None)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"not a tab-separated frequency table ({exc})", file=p) from exc
    cols = {c.lstrip("#").lower(): c for c in df.columns}
    freq_col = cols.get("alt_freqs") or cols.get("alt_freq")
    need = ["chrom", "ref", "alt"]
    if freq_col is None or any(c not in cols for c in need) or ("pos" not in cols and "id" not in cols):
        raise InputError(
            "frequency table needs CHROM, REF, ALT, ALT_FREQS (plink2 .afreq) plus ID or POS",
            file=p,
            line=1,
        )
    out = df.select(
        pl.col(cols["chrom"]).alias("chrom"),
        (pl.col(cols["pos"]).cast(pl.Int64, strict=False) if "pos" in cols else pl.lit(None, pl.Int64)).alias("pos"),
        (pl.col(cols["id"]) if "id" in cols else pl.lit(None, pl.String)).alias("id"),
        pl.col(cols["ref"]).str.to_uppercase().alias("ref"),
        pl.col(cols["alt"]).str.to_uppercase().alias("alt"),
        pl.col(freq_col).cast(pl.Float64, strict=False).alias("alt_freq"),
    ).with_columns(chrom_expr("chrom").alias("chrom"))
    bad = out.get_column("alt_freq").is_null() | ~out.get_column("alt_freq").is_between(0, 1)
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError("frequency is not a number in [0, 1]", file=p, line=i + 2, field=freq_col)
    return out


def frequencies_for(target: pl.DataFrame, freqs: pl.DataFrame) -> np.ndarray:
    """ALT frequency per target row (indexed by vidx), NaN where the table has none."""
    out = np.full(target.height, np.nan)
    by_pos = freqs.filter(pl.col("pos").is_not_null())
    by_id = freqs.filter(pl.col("pos").is_null() & pl.col("id").is_not_null())
    for table, keys in ((by_pos, ["chrom", "pos"]), (by_id, ["chrom", "id"])):
        if table.height == 0:
            continue
        t = table.select(*keys, "ref", "alt", "alt_freq")
        same = target.join(t, on=[*keys, "ref", "alt"], how="inner").select("vidx", "alt_freq")
        swapped = target.join(t.rename({"ref": "alt", "alt": "ref"}), on=[*keys, "ref", "alt"], how="inner").select(
            "vidx", (1 - pl.col("alt_freq")).alias("alt_freq")
        )
        for part in (swapped, same):  # same orientation wins
            idx = part.get_column("vidx").to_numpy().astype(np.int64)
            out[idx] = part.get_column("alt_freq").to_numpy()
    return out


def founder_frequency(alt_count: np.ndarray, n_called: np.ndarray) -> np.ndarray:
    """plink2's ALT frequency: ALT alleles over 2 × the founders' non-missing calls (NaN when none)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_called > 0, alt_count / (2.0 * n_called), np.nan)
