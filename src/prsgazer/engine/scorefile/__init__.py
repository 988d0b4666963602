"""Scoring files: PGS Catalog format 2.0 (plain or gzip), OmicsPred, custom and pgsc_calc-normalised
files, parsed into one polars frame per file. See docs/engine.md ("Scoring files").

`read_scorefile(path)` returns a `ScoringFile`: the header (`header`), and a frame with one row per
data line — including the rows that cannot be scored from SNP genotypes, which carry the reason in
`unscorable` and are counted, never silently dropped. Harmonised positions (`hm_chr`, `hm_pos`) are
used when the header says the file is harmonised; `hm_inferOtherAllele` fills a missing other
allele. Validation errors are `InputError`s naming file, line and column.

Modules: `header` (the `#key=value` header), `model` (the parsed file), `parse` (the polars parser,
every layout and every error), `fast` + `kernel` (the compiled reader of the common layout), `cache`
(the parsed-file cache), `read` (reader choice and caching: the entry points), `liftover` (positions
lifted between builds with a UCSC chain file: `read_chain`, `lift_positions`, `lift_scorefile`).
"""

from prsgazer.engine.scorefile.cache import CacheWriter, entry_path
from prsgazer.engine.scorefile.header import (
    ScoringFileHeader,
    is_catalog_accession,
    parse_header_lines,
    read_header,
)
from prsgazer.engine.scorefile.liftover import (
    PRIMARY_CHROMS,
    UNLIFTED_SCHEMA,
    Chain,
    LiftReason,
    LiftResult,
    lift_positions,
    lift_scorefile,
    read_chain,
)
from prsgazer.engine.scorefile.model import (
    SCHEMA,
    EffectType,
    ScoreCounts,
    ScoringFile,
    Unscorable,
    describe_counts,
    note_accessions,
)
from prsgazer.engine.scorefile.read import ReaderOptions, read_scorefile, read_scorefiles

__all__ = [
    "PRIMARY_CHROMS",
    "SCHEMA",
    "UNLIFTED_SCHEMA",
    "CacheWriter",
    "Chain",
    "EffectType",
    "LiftReason",
    "LiftResult",
    "ReaderOptions",
    "ScoreCounts",
    "ScoringFile",
    "ScoringFileHeader",
    "Unscorable",
    "describe_counts",
    "entry_path",
    "is_catalog_accession",
    "lift_positions",
    "lift_scorefile",
    "note_accessions",
    "parse_header_lines",
    "read_chain",
    "read_header",
    "read_scorefile",
    "read_scorefiles",
]
