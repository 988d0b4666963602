"""Cleaning of the PGS Catalog bulk metadata sheets (pure: frames in, frames out). See docs/catalog.md.

The catalog publishes `pgs_all_metadata_<sheet>.csv` with human column labels ("Polygenic Score (PGS)
ID", "Original Genome Build", "Odds Ratio (OR)", …). Cleaning gives every sheet snake_case columns
(known labels get short canonical names, unknown ones a mechanical snake_case so nothing is lost),
typed values, genome builds normalised (`hg19` → `GRCh37`, `NR` → null), `|`-separated lists as list
columns, ancestry distributions (`European:80|NR:20`) as lists of {ancestry, percent}, and metric
strings such as `1.55 [1.52,1.58]` or `-0.7 (0.15)` split into estimate / CI / SE columns.
`best_performance` then picks one evaluation per score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from prsgazer.engine.interpret.quality import ancestry_code
from prsgazer.engine.scorefile.header import normalize_build
from prsgazer.errors import InputError

#: Bumped whenever the cleaned column layout changes (stored with every CatalogMetadata asset).
SCHEMA_VERSION = 1

SHEETS = (
    "scores",
    "performance_metrics",
    "evaluation_sample_sets",
    "score_development_samples",
    "publications",
    "efo_traits",
)
#: Derived sheet: one evaluation per score (see `best_performance`).
DERIVED_SHEETS = ("best_performance",)

_SAMPLE_COLUMNS = {
    "Polygenic Score (PGS) ID": "pgs_ids",
    "Stage of PGS Development": "stage",
    "Number of Individuals": "n_individuals",
    "Number of Cases": "n_cases",
    "Number of Controls": "n_controls",
    "Percent of Participants Who are Male": "percent_male",
    "Sample Age": "sample_age",
    "Broad Ancestry Category": "ancestry_broad",
    "Ancestry (e.g. French, Chinese)": "ancestry_free",
    "Country of Recruitment": "country",
    "Additional Ancestry Description": "ancestry_additional",
    "Phenotype Definitions and Methods": "phenotyping",
    "Followup Time": "followup_time",
    "GWAS Catalog Study ID (GCST...)": "gwas_catalog_study",
    "Source PubMed ID (PMID) or doi": "source_pmid_or_doi",
    "Cohort(s)": "cohorts",
    "Additional Sample/Cohort Information": "cohorts_additional",
}

#: Known column labels → canonical names, per sheet.
COLUMNS: dict[str, dict[str, str]] = {
    "scores": {
        "Polygenic Score (PGS) ID": "pgs_id",
        "PGS Name": "pgs_name",
        "Reported Trait": "trait_reported",
        "Mapped Trait(s) (EFO label)": "trait_efo_labels",
        "Mapped Trait(s) (EFO ID)": "trait_efo_ids",
        "PGS Development Method": "method_name",
        "PGS Development Details/Relevant Parameters": "method_params",
        "Original Genome Build": "genome_build_reported",
        "Harmonized Genome Build": "hm_builds",
        "Number of Variants": "n_variants",
        "Number of Interaction Terms": "n_interactions",
        "Type of Variant Weight": "weight_type",
        "PGS Publication (PGP) ID": "pgp_id",
        "Publication (PMID)": "pmid",
        "Publication (doi)": "doi",
        "Score and results match the original publication": "matches_publication",
        "Ancestry Distribution (%) - Source of Variant Associations (GWAS)": "ancestry_gwas",
        "Ancestry Distribution (%) - Score Development/Training": "ancestry_dev",
        "Ancestry Distribution (%) - PGS Evaluation": "ancestry_eval",
        "FTP link": "ftp_link",
        "Release Date": "release_date",
        "License/Terms of Use": "license",
    },
    "performance_metrics": {
        "PGS Performance Metric (PPM) ID": "ppm_id",
        "Evaluated Score": "pgs_id",
        "PGS Sample Set (PSS)": "pss_id",
        "PGS Publication (PGP) ID": "pgp_id",
        "Reported Trait": "trait_reported",
        "Covariates Included in the Model": "covariates",
        "PGS Performance: Other Relevant Information": "comments",
        "Publication (PMID)": "pmid",
        "Publication (doi)": "doi",
        "Hazard Ratio (HR)": "hr",
        "Odds Ratio (OR)": "or",
        "Beta": "beta",
        "Area Under the Receiver-Operating Characteristic Curve (AUROC)": "auroc",
        # The catalog's export code spells it "Corcordance"; accept both.
        "Concordance Statistic (C-index)": "c_index",
        "Corcordance Statistic (C-index)": "c_index",
        "Other Metric(s)": "other_metrics",
    },
    "evaluation_sample_sets": {"PGS Sample Set (PSS)": "pss_id", **_SAMPLE_COLUMNS},
    "score_development_samples": {**_SAMPLE_COLUMNS, "Polygenic Score (PGS) ID": "pgs_id"},
    "publications": {
        "PGS Publication/Study (PGP) ID": "pgp_id",
        "PGS Publication (PGP) ID": "pgp_id",
        "First Author": "first_author",
        "Title": "title",
        "Journal Name": "journal",
        "Publication Date": "publication_date",
        "Release Date": "release_date",
        "Authors": "authors",
        "digital object identifier (doi)": "doi",
        "PubMed ID (PMID)": "pmid",
    },
    "efo_traits": {
        "Ontology Trait ID": "efo_id",
        "Ontology Trait Label": "label",
        "Ontology Trait Description": "description",
        "Ontology URL": "url",
    },
}

#: Columns a sheet must have (after renaming) to be usable.
REQUIRED = {
    "scores": ("pgs_id", "trait_reported", "n_variants"),
    "performance_metrics": ("ppm_id", "pgs_id", "pss_id"),
    "evaluation_sample_sets": ("pss_id", "n_individuals", "ancestry_broad"),
    "score_development_samples": ("pgs_id",),
    "publications": ("pgp_id",),
    "efo_traits": ("efo_id", "label"),
}

METRICS = ("hr", "or", "beta", "auroc", "c_index")

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
METRIC_RE = (
    rf"^\s*(?P<estimate>{_NUM})\s*"
    rf"(?:\[\s*(?P<ci_lower>{_NUM})\s*[,;–-]\s*(?P<ci_upper>{_NUM})\s*\]"
    rf"|\(\s*(?P<se>{_NUM})\s*\))?\s*$"
)
_METRIC = re.compile(METRIC_RE)
_NULLS = ["", "NR", "NA", "N/A", "nan", "NaN", "None", "null", "-"]


@dataclass(frozen=True)
class ParsedMetric:
    estimate: float | None
    ci_lower: float | None = None
    ci_upper: float | None = None
    se: float | None = None


def parse_metric(text: str | None) -> ParsedMetric:
    """`1.55 [1.52,1.58]` → estimate 1.55, CI 1.52–1.58; `-0.7 (0.15)` → estimate −0.7, SE 0.15.

    Empty, `NR` and unparseable text give an all-None result.
    """
    if text is None:
        return ParsedMetric(None)
    m = _METRIC.match(str(text))
    if not m:
        return ParsedMetric(None)

    def f(name: str) -> float | None:
        v = m.group(name)
        return float(v) if v is not None else None

    return ParsedMetric(f("estimate"), f("ci_lower"), f("ci_upper"), f("se"))


def snake_case(label: str) -> str:
    """A mechanical snake_case of a column label: `Number of Variants` → `number_of_variants`."""
    s = label.strip().lower().replace("%", "pct").replace("β", "beta").replace("²", "2")
    return re.sub(r"[^0-9a-z]+", "_", s).strip("_")


def normalize_build_or_none(value: str | None) -> str | None:
    """`normalize_build` that maps unknown spellings to None instead of raising (they are kept raw)."""
    try:
        return normalize_build(value)
    except ValueError:
        return None


def rename_columns(sheet: str, df: pl.DataFrame) -> pl.DataFrame:
    """Canonical names for known labels, snake_case for the rest; duplicates get a numeric suffix."""
    known = COLUMNS.get(sheet, {})
    names: list[str] = []
    for col in df.columns:
        label = col.lstrip("\ufeff").strip()  # a byte-order mark must not hide the first column
        name = known.get(label) or snake_case(label) or "column"
        base, i = name, 2
        while name in names:
            name, i = f"{base}_{i}", i + 1
        names.append(name)
    return df.rename(dict(zip(df.columns, names, strict=True)))


def _text(col: str) -> pl.Expr:
    """Stripped text with the catalog's 'not reported' spellings as null."""
    e = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(e.is_in(_NULLS)).then(None).otherwise(e)


def _int(col: str) -> pl.Expr:
    # pandas-written CSVs carry integers with missing values as floats ("67054.0")
    return _text(col).str.replace_all(",", "").cast(pl.Float64, strict=False).round(0).cast(pl.Int64)


def _float(col: str) -> pl.Expr:
    return _text(col).str.replace("%", "").cast(pl.Float64, strict=False)


def _list(col: str, sep: str = r"\|") -> pl.Expr:
    return (
        _text(col)
        .str.replace_all(sep, "\x1f")
        .str.split("\x1f")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def _ancestry(col: str) -> pl.Expr:
    parts = _list(col)
    return parts.list.eval(
        pl.struct(
            ancestry=pl.element().str.extract(r"^(.*?)\s*:\s*[-+.\d]+\s*%?$", 1),
            percent=pl.element().str.extract(r":\s*([-+.\d]+)\s*%?$", 1).cast(pl.Float64, strict=False),
        )
    )


def _date(col: str) -> pl.Expr:
    return _text(col).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _bool(col: str) -> pl.Expr:
    e = _text(col).str.to_lowercase()
    return pl.when(e.is_in(["true", "yes", "1"])).then(True).when(e.is_in(["false", "no", "0"])).then(False)


def _require(sheet: str, df: pl.DataFrame, source: str) -> None:
    missing = [c for c in REQUIRED.get(sheet, ()) if c not in df.columns]
    if missing:
        raise InputError(
            f"metadata sheet '{sheet}' lacks column(s) {', '.join(missing)}",
            file=source,
            hint="is this a PGS Catalog pgs_all_metadata_*.csv file?",
        )


def clean_sheet(sheet: str, raw: pl.DataFrame, *, source: str = "<frame>") -> pl.DataFrame:
    """Clean one raw sheet (all columns as text, as `read_csv(infer_schema=False)` gives them)."""
    if sheet not in SHEETS:
        raise InputError(f"unknown metadata sheet {sheet!r}", field="sheet", hint=f"one of {', '.join(SHEETS)}")
    df = rename_columns(sheet, raw)
    _require(sheet, df, source)
    text_cols = [c for c in df.columns if df.schema[c] == pl.String]
    df = df.with_columns(_text(c).alias(c) for c in text_cols)
    return _CLEANERS[sheet](df)


def _clean_scores(df: pl.DataFrame) -> pl.DataFrame:
    cols = set(df.columns)
    exprs: list[pl.Expr] = [_int("n_variants").alias("n_variants")]
    if "n_interactions" in cols:
        exprs.append(_int("n_interactions").alias("n_interactions"))
    if "pmid" in cols:
        exprs.append(_int("pmid").alias("pmid"))
    if "trait_efo_labels" in cols:
        exprs.append(_list("trait_efo_labels").alias("trait_efo_labels"))
    if "trait_efo_ids" in cols:
        exprs.append(
            _list("trait_efo_ids", r"[|,]").list.eval(pl.element().str.replace(":", "_")).alias("trait_efo_ids")
        )
    for stage in ("ancestry_gwas", "ancestry_dev", "ancestry_eval"):
        if stage in cols:
            exprs.append(_ancestry(stage).alias(stage))
    if "matches_publication" in cols:
        exprs.append(_bool("matches_publication").alias("matches_publication"))
    if "release_date" in cols:
        exprs.append(_date("release_date").alias("release_date"))
    df = df.with_columns(exprs)
    reported = df["genome_build_reported"] if "genome_build_reported" in cols else pl.Series([None] * df.height)
    builds = [normalize_build_or_none(v) for v in reported.to_list()]
    df = df.with_columns(pl.Series("genome_build", builds, dtype=pl.String))
    if "hm_builds" in cols:
        hm = [
            sorted({b for b in (normalize_build_or_none(x) for x in re.split(r"[|,]", v or "")) if b})
            for v in df["hm_builds"].to_list()
        ]
    else:
        # The catalog harmonises every score to both builds and its sheet has no column saying
        # otherwise; a sheet that does have one is read above.
        hm = [["GRCh37", "GRCh38"]] * df.height
    available = [sorted(set(h) | ({b} if b else set())) for h, b in zip(hm, builds, strict=True)]
    df = df.with_columns(
        pl.Series("hm_builds", hm, dtype=pl.List(pl.String)),
        pl.Series("builds_available", available, dtype=pl.List(pl.String)),
    )
    return df.unique(subset="pgs_id", keep="first", maintain_order=True).sort("pgs_id")


def metric_columns(col: str) -> list[pl.Expr]:
    """Estimate / CI / SE columns of one metric text column (`or` → `or_estimate`, `or_ci_lower`, …)."""
    groups = _text(col).str.extract_groups(METRIC_RE)
    return [
        groups.struct.field(part).cast(pl.Float64, strict=False).alias(f"{col}_{part}")
        for part in ("estimate", "ci_lower", "ci_upper", "se")
    ]


def _clean_performance(df: pl.DataFrame) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    for m in METRICS:
        if m not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(m))
        exprs.extend(metric_columns(m))
    if "pmid" in df.columns:
        exprs.append(_int("pmid").alias("pmid"))
    df = df.with_columns(exprs).rename({m: f"{m}_text" for m in METRICS})
    return df.sort("ppm_id")


def _clean_samples(df: pl.DataFrame) -> pl.DataFrame:
    cols = set(df.columns)
    exprs = [_int(c).alias(c) for c in ("n_individuals", "n_cases", "n_controls") if c in cols]
    if "percent_male" in cols:
        exprs.append(_float("percent_male").alias("percent_male"))
    if "pgs_ids" in cols:
        exprs.append(_list("pgs_ids", r"[|,]").alias("pgs_ids"))
    if "cohorts" in cols:
        exprs.append(_list("cohorts", r"[|,]").alias("cohorts"))
    return df.with_columns(exprs)


def _clean_publications(df: pl.DataFrame) -> pl.DataFrame:
    cols = set(df.columns)
    exprs = []
    if "pmid" in cols:
        exprs.append(_int("pmid").alias("pmid"))
    for c in ("publication_date", "release_date"):
        if c in cols:
            exprs.append(_date(c).alias(c))
    if "publication_date" in cols:
        exprs.append(_date("publication_date").dt.year().alias("year"))
    return df.with_columns(exprs).unique(subset="pgp_id", keep="first", maintain_order=True).sort("pgp_id")


def _clean_efo(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col("efo_id").str.replace(":", "_")).unique(
        subset="efo_id", keep="first", maintain_order=True
    )


_CLEANERS = {
    "scores": _clean_scores,
    "performance_metrics": _clean_performance,
    "evaluation_sample_sets": _clean_samples,
    "score_development_samples": _clean_samples,
    "publications": _clean_publications,
    "efo_traits": _clean_efo,
}


def sample_set_summary(sample_sets: pl.DataFrame, *, ancestry: str = "European") -> pl.DataFrame:
    """One row per sample set: individuals, broad ancestries, and the share of `ancestry`.

    `ancestry` is a catalog label or a 1000 Genomes superpopulation code (EUR, AFR, EAS, SAS, AMR);
    a sample counts when its broad ancestry maps to the same group.
    """
    target = ancestry_code(ancestry)
    labels = sample_sets["ancestry_broad"].unique().to_list()
    match = {lab: (target is not None and ancestry_code(lab) == target) for lab in labels}
    df = sample_sets.with_columns(
        pl.col("n_individuals").fill_null(0).alias("_n"),
        pl.col("ancestry_broad").replace_strict(match, default=False, return_dtype=pl.Boolean).alias("_match"),
    )
    out = df.group_by("pss_id", maintain_order=True).agg(
        pl.col("_n").sum().alias("n_individuals"),
        pl.col("ancestry_broad").drop_nulls().unique(maintain_order=True).alias("ancestries"),
        pl.when(pl.col("_match")).then(pl.col("_n")).otherwise(0).sum().alias("_n_match"),
    )
    return out.with_columns(
        pl.when(pl.col("n_individuals") > 0)
        .then(pl.col("_n_match") / pl.col("n_individuals"))
        .otherwise(None)
        .alias("ancestry_share")
    ).drop("_n_match")


#: Share of a sample set's individuals in the wanted ancestry for it to count as ancestry-matched.
MATCHED_SHARE = 0.8


def best_performance(
    performance: pl.DataFrame, sample_sets: pl.DataFrame, *, ancestry: str = "European"
) -> pl.DataFrame:
    """One evaluation per score: the most applicable, then the most informative, then the largest.

    Ranking within a score, first difference wins:
    1. ancestry-matched sample set (≥ 80% of its individuals in `ancestry`, default European);
    2. a discrimination metric is reported (AUROC or C-index: what the quality label needs);
    3. more individuals;
    4. lower PPM id (stable).
    Adds `n_evaluations` (all evaluations of the score) and `ancestry_matched`.
    """
    summary = sample_set_summary(sample_sets, ancestry=ancestry)
    df = performance.join(summary, on="pss_id", how="left").with_columns(
        (pl.col("ancestry_share").fill_null(0.0) >= MATCHED_SHARE).alias("ancestry_matched"),
        (pl.col("auroc_estimate").is_not_null() | pl.col("c_index_estimate").is_not_null()).alias("has_discrimination"),
        pl.len().over("pgs_id").alias("n_evaluations"),
    )
    ranked = df.sort(
        ["pgs_id", "ancestry_matched", "has_discrimination", "n_individuals", "ppm_id"],
        descending=[False, True, True, True, False],
        nulls_last=True,
    )
    best = ranked.unique(subset="pgs_id", keep="first", maintain_order=True)
    return best.with_columns(pl.lit(ancestry).alias("ranked_for_ancestry"))
