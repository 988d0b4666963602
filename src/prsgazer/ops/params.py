"""What a user chooses, in two kinds: `ScoreParams` change the numbers (explicit parameters of every
operation, recorded with every output and in every cache key) and `Tuning` only changes how fast or
in how much memory they are computed (from the deployer's settings or keyword arguments).
See docs/architecture.md ("Parameters and settings").

Every default is defined once, in the engine's option models; `ScoreParams.create` is the one
validated constructor every door uses (bad values are `InputError`s naming the parameter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prsgazer.engine.genotypes import Coverage, QualityFilters
from prsgazer.engine.genotypes.source import DOSAGE_FIELDS, check_dosage_fields
from prsgazer.engine.scorefile import ReaderOptions
from prsgazer.engine.scoring import MatchOptions, RunOptions, ScoreOptions
from prsgazer.errors import InputError

_MATCH = MatchOptions()
_SCORE = ScoreOptions()
_FILTERS = QualityFilters()


class ScoreParams(BaseModel):
    """The choices that change a score's numbers (defaults: pgsc_calc's and plink2's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_overlap: float = Field(default=_MATCH.min_overlap, ge=0.0, le=1.0)
    keep_ambiguous: bool = _MATCH.keep_ambiguous
    keep_multiallelic: bool = _MATCH.keep_multiallelic
    keep_first_match: bool = _MATCH.keep_first_match
    ignore_strand_flips: bool = _MATCH.ignore_strand_flips
    impute: bool = _SCORE.impute
    min_founders_for_freq: int = Field(default=_SCORE.min_founders_for_target_freq, ge=1)
    vcf_filter: tuple[str, ...] | None = Field(
        default=tuple(_FILTERS.filter_pass or ()), description="Accepted VCF FILTER values; None accepts any."
    )
    min_dp: int | None = Field(default=_FILTERS.min_dp, ge=0)
    min_gq: int | None = Field(default=_FILTERS.min_gq, ge=0)
    min_qual: float | None = Field(default=_FILTERS.min_qual, ge=0.0)
    hard_calls: bool = Field(default=_SCORE.hard_calls, description="Ignore dosages: score the hard calls.")
    dosage_fields: tuple[str, ...] = Field(
        default=tuple(DOSAGE_FIELDS), description="VCF FORMAT fields read as dosages, in order of preference."
    )

    @field_validator("dosage_fields", mode="before")
    @classmethod
    def _dosage_fields(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(check_dosage_fields([str(v).strip().upper() for v in items if str(v).strip()]))

    @classmethod
    def create(cls, **values: Any) -> ScoreParams:
        """Validated parameters; None means "the default". Errors name the parameter and what is allowed."""
        given = {k: v for k, v in values.items() if v is not None}
        if "vcf_filter" in given:
            given["vcf_filter"] = _filters(given["vcf_filter"])
        try:
            return cls(**given)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"]) or "parameters"
            raise InputError(f"{name}: {err['msg']} (got {err.get('input')!r})", field=name) from None

    def filters(self) -> QualityFilters:
        return QualityFilters(
            filter_pass=list(self.vcf_filter) if self.vcf_filter is not None else None,
            min_dp=self.min_dp,
            min_gq=self.min_gq,
            min_qual=self.min_qual,
        )

    def as_record(self) -> dict[str, Any]:
        """JSON-able, for cache keys, stored asset fields and output provenance."""
        return self.model_dump(mode="json")


def _filters(value: Any) -> tuple[str, ...] | None:
    """VCF FILTER values from a list or a comma-separated string; '*' accepts every value."""
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(v).strip() for v in items if str(v).strip()]
    return None if "*" in items else tuple(items)


class Tuning(BaseModel):
    """How the numbers are computed: never what they are."""

    model_config = ConfigDict(frozen=True)

    cache_dir: Path | None = None
    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    block_cells: int = Field(default=_SCORE.max_block_cells, ge=1024)
    memory_limit: str = "2GB"
    dense_fraction: float = Field(default=0.5, gt=0.0, le=1.0)
    batch_cache_scorefiles: bool = False

    @classmethod
    def from_settings(cls, settings: Any = None, **overrides: Any) -> Tuning:
        """The deployer's settings (cache dir, memory limit, batch caching), with keyword overrides."""
        if settings is None:
            from prsgazer.config import get_settings

            settings = get_settings()
        values: dict[str, Any] = {
            "cache_dir": settings.cache_dir, "memory_limit": settings.memory_limit,
            "batch_cache_scorefiles": settings.batch_cache_scorefiles,
        }  # fmt: skip
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def available_chains(explicit: list[Path] | tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """Chain files for liftover: the ones given, then the UCSC-named ones in PRSGAZER_CHAIN_DIR."""
    from prsgazer.config import get_settings

    for c in explicit:
        if not Path(c).is_file():
            raise InputError("chain file does not exist", file=c, field="--chain")
    folder = get_settings().chain_path
    found = sorted(folder.glob("*.over.chain*")) if folder.is_dir() else []
    return tuple(dict.fromkeys([*map(Path, explicit), *found]))


def run_options(
    params: ScoreParams,
    tuning: Tuning,
    *,
    build: str | None = None,
    coverage: str | None = None,
    reference: Path | str | None = None,
    ref_freq: Path | str | None = None,
    chains: tuple[Path, ...] = (),
) -> RunOptions:
    """The engine's options for one run: the parameters, the tuning, and what describes the input
    (its declared build and coverage, a reference giving REF at absent sites, reference frequencies)."""
    if coverage is not None and coverage not in {c.value for c in Coverage}:
        raise InputError(
            f"unknown coverage {coverage!r}", field="coverage", hint="one of " + ", ".join(c.value for c in Coverage)
        )
    return RunOptions(
        match=MatchOptions(
            keep_ambiguous=params.keep_ambiguous,
            keep_multiallelic=params.keep_multiallelic,
            keep_first_match=params.keep_first_match,
            ignore_strand_flips=params.ignore_strand_flips,
            min_overlap=params.min_overlap,
        ),
        score=ScoreOptions(
            impute=params.impute,
            min_founders_for_target_freq=params.min_founders_for_freq,
            max_block_cells=tuning.block_cells,
            hard_calls=params.hard_calls,
        ),
        dosage_fields=params.dosage_fields,
        filters=params.filters(),
        build=build,
        coverage=Coverage(coverage) if coverage else None,
        reference=Path(reference) if reference else None,
        ref_freq=Path(ref_freq) if ref_freq else None,
        cache_dir=tuning.cache_dir,
        reader=tuning.reader,
        chains=chains,
    )
