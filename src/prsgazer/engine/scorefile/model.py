"""The parsed scoring file: `ScoringFile` (header, source identity, one row per data line in
`SCHEMA`), effect types, unscorable reasons and per-score counts. See docs/engine.md ("Scoring files").
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.scorefile.header import ScoringFileHeader
from prsgazer.errors import InputError


class EffectType(StrEnum):
    """How a row's weight applies to the effect-allele dosage d (0, 1, 2)."""

    ADDITIVE = "additive"  # w·d
    DOMINANT = "dominant"  # w·min(d, 1)
    RECESSIVE = "recessive"  # w·max(d − 1, 0)
    GENOTYPIC = "genotypic"  # dosage_{d}_weight


class Unscorable(StrEnum):
    """Why a row is kept out of scoring (the row stays in the frame and in the counts)."""

    INTERACTION = "interaction"
    HAPLOTYPE = "haplotype"
    DIPLOTYPE = "diplotype"
    NAMED_ALLELE = "named_allele"  # HLA / APOE / P-N coded alleles
    NO_POSITION = "no_position"  # rsID only: needs a harmonised file
    NO_HARMONISED_POSITION = "no_harmonised_position"  # harmonisation failed for this row


#: Columns of the parsed frame, in order, with their types.
SCHEMA: dict[str, pl.DataType] = {
    "accession": pl.String(),
    "row_nr": pl.Int64(),
    "line": pl.Int64(),
    "rsID": pl.String(),
    "chr_name": pl.String(),
    "chr_position": pl.Int64(),
    "effect_allele": pl.String(),
    "other_allele": pl.String(),
    "effect_weight": pl.Float64(),
    "effect_type": pl.String(),
    "dosage_0_weight": pl.Float64(),
    "dosage_1_weight": pl.Float64(),
    "dosage_2_weight": pl.Float64(),
    "allelefrequency_effect": pl.Float64(),
    "unscorable": pl.String(),
}

class ScoreCounts(BaseModel):
    """Row counts of one score (one accession) in a parsed file."""

    accession: str
    n_rows: int
    n_scorable: int
    unscorable: dict[str, int] = Field(default_factory=dict)


class ScoringFile(BaseModel):
    """A parsed scoring file: header, source identity and the row frame (`SCHEMA`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    cid: str
    header: ScoringFileHeader
    harmonised: bool = Field(description="Positions come from hm_chr/hm_pos.")
    variants: pl.DataFrame

    known_accessions: list[str] | None = Field(default=None, exclude=True, repr=False)
    reader: str = Field(default="", exclude=True, repr=False, description="How it was read: 'cache', 'compiled', "
                        "or 'polars: <why the compiled reader was not used>'.")

    @property
    def accessions(self) -> list[str]:
        if self.known_accessions is not None:
            return self.known_accessions
        return self.variants.get_column("accession").unique(maintain_order=True).to_list()

    @property
    def build(self) -> str | None:
        """The build the positions are in (HmPOS_build for harmonised files, else genome_build)."""
        return self.header.HmPOS_build if self.harmonised else self.header.genome_build

    @property
    def scorable(self) -> pl.DataFrame:
        return self.variants.filter(pl.col("unscorable").is_null())

    def counts(self) -> list[ScoreCounts]:
        """Rows, scorable rows and unscorable rows by reason, per score (in file order)."""
        v = self.variants.select("accession", "unscorable")
        accessions = self.accessions
        if len(accessions) == 1 and v.get_column("unscorable").null_count() == v.height:  # the usual file
            return [ScoreCounts(accession=accessions[0], n_rows=v.height, n_scorable=v.height, unscorable={})]
        per = v.group_by("accession", maintain_order=True).agg(
            pl.len().alias("n"), pl.col("unscorable").null_count().alias("ok")
        )
        bad = (
            v.filter(pl.col("unscorable").is_not_null())
            .group_by("accession", "unscorable")
            .len()
            .sort("len", "unscorable", descending=[True, False])
        )
        reasons: dict[str, dict[str, int]] = {}
        for acc, reason, n in bad.iter_rows():
            reasons.setdefault(acc, {})[reason] = int(n)
        return [
            ScoreCounts(accession=str(acc), n_rows=int(n), n_scorable=int(ok), unscorable=reasons.get(acc, {}))
            for acc, n, ok in per.iter_rows()
        ]


def stem(p: Path) -> str:
    """`PGS1.txt.gz` → `PGS1`."""
    name = p.name
    for suffix in (".gz", ".txt", ".tsv", ".csv"):
        name = name.removesuffix(suffix)
    return name


def describe_counts(counts: ScoreCounts) -> str:
    """One line for logs: '835 rows, 835 scorable' or '35 rows, 0 scorable (27 no_position, …)'."""
    text = f"{counts.n_rows} rows, {counts.n_scorable} scorable"
    if counts.unscorable:
        text += " (" + ", ".join(f"{v} {k}" for k, v in counts.unscorable.items()) + ")"
    return text


def note_accessions(sf: ScoringFile, seen: dict[str, Path]) -> None:
    """Record the score ids of a parsed file in `seen` (id → file); one id in two files is an error."""
    for acc in sf.accessions:
        if acc in seen:
            raise InputError(
                f"score {acc!r} is in two scoring files ({seen[acc].name} and {sf.path.name})",
                file=sf.path,
                field="pgs_id",
                hint="give each scoring file once, or give custom files distinct #pgs_id headers",
            )
        seen[acc] = sf.path
