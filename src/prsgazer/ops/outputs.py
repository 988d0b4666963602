"""Score tables in the layouts pipelines already use, with what made them. See docs/engine.md ("Output").

- `long` (prsgazer's): one row per (sample, score): `sample_id pgs_id sum avg denom …`, and `fid`
  `iid` at the end when the input has family ids (kept apart, as the input gave them).
- `sscore` (plink2's `--score … cols=+denom,+scoresums` layout, one row per sample): `#FID IID` (or
  `#IID`), `ALLELE_CT DENOM NAMED_ALLELE_DOSAGE_SUM` when every score shares them (else one set per
  score, `<PGS>_ALLELE_CT` …), then `<PGS>_AVG` for each score and `<PGS>_SUM` for each score.
- `pgsc` (pgsc_calc's aggregated scores): `sampleset IID PGS SUM DENOM AVG`, one row per (sample, score).

A score that failed matching has no values (NA) in the wide layout and no rows in `pgsc`. The run's
provenance (prsgazer and code versions, parameters, inputs by CID, match summaries) is written beside
a file output as `<OUT>.run.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import polars as pl

from prsgazer.engine.scoring import ScoreRun
from prsgazer.errors import InputError

Format = Literal["long", "sscore", "pgsc"]
FORMATS: tuple[Format, ...] = ("long", "sscore", "pgsc")


def check_format(fmt: str) -> Format:
    for known in FORMATS:
        if fmt == known:
            return known
    raise InputError(f"unknown output format {fmt!r}", field="--format", hint=f"one of {', '.join(FORMATS)}")


def _ids(run: ScoreRun) -> pl.DataFrame:
    if run.sample_ids is not None:
        return run.sample_ids
    return run.table.select("sample_id").unique(maintain_order=True).with_columns(
        pl.lit(None, dtype=pl.String).alias("fid"), pl.col("sample_id").alias("iid")
    )


def long_table(run: ScoreRun, table: pl.DataFrame | None = None) -> pl.DataFrame:
    """The long table, with `fid` and `iid` at the end when the input has family ids."""
    table = run.table if table is None else table
    ids = _ids(run)
    if ids.get_column("fid").null_count() == ids.height:
        return table
    return table.join(ids, on="sample_id", how="left", maintain_order="left")


def sscore_table(run: ScoreRun) -> pl.DataFrame:
    """plink2's `.sscore` layout (see the module docstring)."""
    ids = _ids(run)
    ok = [s.accession for s in run.match.summaries if s.passed]
    t = run.table.filter(pl.col("pgs_id").is_in(ok))
    has_fid = ids.get_column("fid").null_count() < ids.height
    names = [pl.col("fid").alias("#FID"), pl.col("iid").alias("IID")] if has_fid else [pl.col("iid").alias("#IID")]
    out = ids.select(*names, "sample_id")
    shared = ("allele_ct", "denom", "named_allele_dosage_sum")
    per_sample = t.select("sample_id", *shared).unique().group_by("sample_id").len().get_column("len")
    common = bool(ok) and per_sample.max() == 1
    wide = pl.DataFrame({"sample_id": ids.get_column("sample_id")})
    if common:
        per = t.filter(pl.col("pgs_id") == ok[0]).select(
            "sample_id", pl.col("allele_ct").alias("ALLELE_CT"), pl.col("denom").alias("DENOM"),
            pl.col("named_allele_dosage_sum").alias("NAMED_ALLELE_DOSAGE_SUM"),
        )  # fmt: skip
        wide = wide.join(per, on="sample_id", how="left")
    for pgs in ok:
        one = t.filter(pl.col("pgs_id") == pgs)
        cols = [pl.col("avg").alias(f"{pgs}_AVG")]
        if not common:
            cols = [pl.col("allele_ct").alias(f"{pgs}_ALLELE_CT"), pl.col("denom").alias(f"{pgs}_DENOM"),
                    pl.col("named_allele_dosage_sum").alias(f"{pgs}_NAMED_ALLELE_DOSAGE_SUM"), *cols]  # fmt: skip
        wide = wide.join(one.select("sample_id", *cols), on="sample_id", how="left")
    for pgs in ok:
        wide = wide.join(t.filter(pl.col("pgs_id") == pgs).select("sample_id", pl.col("sum").alias(f"{pgs}_SUM")),
                         on="sample_id", how="left")  # fmt: skip
    return out.join(wide, on="sample_id", how="left", maintain_order="left").drop("sample_id")


def pgsc_table(run: ScoreRun, sampleset: str) -> pl.DataFrame:
    """pgsc_calc's aggregated scores: `sampleset IID PGS SUM DENOM AVG`."""
    ids = _ids(run).select("sample_id", "iid")
    ok = [s.accession for s in run.match.summaries if s.passed]
    return (
        run.table.filter(pl.col("pgs_id").is_in(ok))
        .join(ids, on="sample_id", how="left", maintain_order="left")
        .select(
            pl.lit(sampleset).alias("sampleset"),
            pl.col("iid").alias("IID"),
            pl.col("pgs_id").alias("PGS"),
            pl.col("sum").alias("SUM"),
            pl.col("denom").alias("DENOM"),
            pl.col("avg").alias("AVG"),
        )
    )


def formatted(run: ScoreRun, fmt: Format, *, table: pl.DataFrame | None = None, sampleset: str = "") -> pl.DataFrame:
    """The run's scores in `fmt` (`table`: the long table with any added columns, e.g. percentiles)."""
    if fmt == "sscore":
        return sscore_table(run)
    if fmt == "pgsc":
        return pgsc_table(run, sampleset or "cohort")
    return long_table(run, table)


def run_record(run: ScoreRun, params: dict[str, Any], **more: Any) -> dict[str, Any]:
    """What made an output: versions, parameters, inputs by CID, per-score match summaries, decisions."""
    from prsgazer.ops.runtime import provenance

    return provenance(
        params,
        genotypes=run.genotypes,
        genotype_kind=run.genotype_kind,
        build=run.build.build,
        scorefiles=[{"path": Path(s.path).name, "cid": s.cid, "build": s.build} for s in run.scorefiles],
        absent_sites=run.absent.describe(),
        imputation=run.imputation,
        dosage_source=run.dosage_source,
        summaries=[s.model_dump(mode="json") for s in run.match.summaries],
        warnings=run.warnings,
        **more,
    )


def record_text(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=1, sort_keys=True, default=str) + "\n"


def table_bytes(frame: pl.DataFrame, *, gzip_it: bool = False) -> bytes:
    """The TSV bytes of a table (NA for missing, full float precision); gzip with no timestamp or
    name in its header when asked, so the same table gives the same bytes."""
    import gzip
    import io

    buf = io.BytesIO()
    frame.write_csv(buf, separator="\t", null_value="NA", float_precision=None)
    data = buf.getvalue()
    if gzip_it:
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
            gz.write(data)
        data = out.getvalue()
    return data
