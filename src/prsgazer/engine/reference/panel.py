"""Reference panels: plink2 pfiles whose .psam says each sample's superpopulation.
See docs/reference.md ("Panels"). The registry of known packs and their download are in
`catalog.reference_packs` (the data layer).

- `open_panel(prefix, cache_dir=...) -> Panel`: a `GenotypeSource` over the `.pgen` (pgenlib) with
  the `.pvar`/`.pvar.zst` variant table cached as parquet under `<cache_dir>/panels/<pvar CID>.sites.parquet`
  (sealed with its own CID, `Panel.sites_cid`) and the `.psam` sample table (`sample_id`,
  `superpopulation`, `population`, `founder`).

Pure engine code: CIDs come from `prsgazer.cid`, a pure function, remembered per file state by
`engine.file_cid`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel

from prsgazer.engine.file_cid import file_cid
from prsgazer.engine.genotypes.plink import PgenSource, read_psam, read_pvar
from prsgazer.engine.version import source_version
from prsgazer.errors import InputError
from prsgazer.logs import logger
from prsgazer.sealed import sealed_output, verify

#: psam columns accepted as the superpopulation label (first found wins, case-insensitive).
SUPERPOP_COLUMNS = ("SuperPop", "Superpopulation", "SuperPopulation", "super_pop", "superpop", "Super_Population")
POP_COLUMNS = ("Population", "Pop", "population")


class PanelCids(BaseModel):
    """Content ids of a panel's three files (the identity used in result keys)."""

    pgen: str
    pvar: str
    psam: str


class Panel(PgenSource):
    """A reference panel: genotypes (`read`, `variants`, `samples`) plus the superpopulation table."""

    def __init__(self, prefix: str | Path, *, cache_dir: Path | None = None) -> None:
        base = strip_ext(Path(prefix))
        pgen, psam = Path(f"{base}.pgen"), Path(f"{base}.psam")
        pvar = Path(f"{base}.pvar")
        if not pvar.exists() and Path(f"{base}.pvar.zst").exists():
            pvar = Path(f"{base}.pvar.zst")
        for f in (pgen, pvar, psam):
            if not f.exists():
                raise InputError(
                    f"reference panel is incomplete: {f.name} does not exist",
                    file=f,
                    hint="a panel is a plink2 prefix with .pgen, .pvar (or .pvar.zst) and .psam",
                )
        self.prefix = base
        self.name = base.name
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        sites, meta, self.sites_cid = _cached_sites(pvar, self.cache_dir)
        super().__init__(base, "pfile", sites=sites, meta=meta)
        self.sample_table = read_panel_psam(psam)
        if self.sample_table.get_column("sample_id").to_list() != self.samples.get_column("sample_id").to_list():
            raise InputError("sample ids of the .psam could not be aligned with the genotypes", file=psam)
        self._cids: PanelCids | None = None

    @property
    def superpopulations(self) -> list[str]:
        """Superpopulation labels present in the panel, sorted (empty when the psam has none)."""
        return sorted(self.sample_table.get_column("superpopulation").drop_nulls().unique().to_list())

    @property
    def superpopulation_counts(self) -> dict[str, int]:
        counts = self.sample_table.group_by("superpopulation").len().drop_nulls("superpopulation")
        return dict(zip(counts["superpopulation"].to_list(), counts["len"].to_list(), strict=True))

    def require_superpopulations(self) -> None:
        """InputError naming the .psam when no sample has a superpopulation label."""
        if not self.superpopulations:
            raise InputError(
                "the panel's .psam has no superpopulation column",
                file=self.psam_path,
                field="SuperPop",
                hint=f"add a column named one of {', '.join(SUPERPOP_COLUMNS[:3])} (e.g. AFR, AMR, EAS, EUR, SAS)",
            )

    def read_into(self, vidx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """`read(vidx)` written into `out` (int8, C-contiguous, len(vidx) × samples) and returned.
        Sorted distinct biallelic variants (a batch's chunks) go straight from pgenlib into `out`,
        with no allocation; anything else is read with `read` and copied."""
        vidx = np.asarray(vidx, dtype=np.int64)
        if out.shape != (len(vidx), self.n_samples) or out.dtype != np.int8 or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous int8 array of len(vidx) × samples")
        if len(vidx) == 0:
            return out
        rec = self._record[vidx]
        if bool((self._allele[vidx] == 1).all()) and (len(rec) == 1 or bool((np.diff(rec.astype(np.int64)) > 0).all())):
            if int(rec[-1]) - int(rec[0]) + 1 == len(rec):
                self._reader.read_range(int(rec[0]), int(rec[-1]) + 1, out)
            else:
                self._reader.read_list(rec.astype(np.uint32), out)
            return out
        out[:] = self.read(vidx)
        return out

    def cids(self) -> PanelCids:
        """CIDs of the .pgen, .pvar and .psam (hashes are remembered per file size and mtime)."""
        if self._cids is None:
            self._cids = PanelCids(
                pgen=file_cid(self.path, self.cache_dir),
                pvar=file_cid(self.pvar_path, self.cache_dir),
                psam=file_cid(self.psam_path, self.cache_dir),
            )
        return self._cids


def open_panel(prefix: str | Path, *, cache_dir: Path | None = None) -> Panel:
    """Open a plink2 panel (`.pgen` + `.pvar`/`.pvar.zst` + `.psam`); `prefix` may name any of the files."""
    return Panel(prefix, cache_dir=cache_dir)


def strip_ext(p: Path) -> Path:
    name = p.name
    for ext in (".pvar.zst", ".pgen", ".pvar", ".psam"):
        if name.endswith(ext):
            return p.with_name(name[: -len(ext)])
    return p


def read_panel_psam(path: Path) -> pl.DataFrame:
    """The psam as `sample_id, superpopulation, population, founder` (labels null when absent)."""

    samples = read_psam(path)
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("##")]
    if not lines or not lines[0].startswith("#"):
        cols: list[str] = []
        rows: list[list[str]] = []
    else:
        cols = lines[0][1:].split("\t")
        rows = [ln.split("\t") for ln in lines[1:]]

    def pick(names: tuple[str, ...]) -> list[str | None]:
        lower = {c.lower(): i for i, c in enumerate(cols)}
        for n in names:
            if n.lower() in lower:
                i = lower[n.lower()]
                return [r[i] if r[i] not in ("", "NA", "na", ".") else None for r in rows]
        return [None] * samples.height

    return samples.with_columns(
        pl.Series("superpopulation", pick(SUPERPOP_COLUMNS), dtype=pl.String),
        pl.Series("population", pick(POP_COLUMNS), dtype=pl.String),
    ).select("sample_id", "superpopulation", "population", "founder")


# --------------------------------------------------------------------------------------------------
# caches: variant tables by pvar CID (file CIDs: `engine.file_cid`)


def _sites_version() -> str:
    """Version of the cached variant tables: a hash of the code that reads them."""
    return source_version("genotypes", "reference", "common")


_SITES = "panel site-table cache entry"


def _cached_sites(pvar: Path, cache_dir: Path | None) -> tuple[pl.DataFrame, list[str], str | None]:
    """The pvar's site table, from the sealed `<cache_dir>/panels/<pvar CID>.sites.parquet` when its
    bytes are intact; with the entry's CID (None without a cache dir)."""
    if cache_dir is None:
        return (*read_pvar(pvar), None)
    cached = Path(cache_dir) / "panels" / f"{file_cid(pvar, cache_dir)}.sites.parquet"
    entry_cid = verify(cached, what=_SITES)
    if entry_cid is not None:
        try:
            meta = pl.read_parquet_metadata(cached)
            if meta.get("prsgazer.sites_version") == _sites_version():
                return pl.read_parquet(cached), json.loads(meta.get("prsgazer.pvar_meta", "[]")), entry_cid
        except (OSError, pl.exceptions.PolarsError, ValueError):
            logger.warning(f"ignoring unreadable {_SITES} {cached}")
    sites, meta_lines = read_pvar(pvar)
    with sealed_output(cached, inputs=(pvar,)) as out:
        sites.write_parquet(
            out.path,
            compression="zstd",
            metadata={"prsgazer.sites_version": _sites_version(), "prsgazer.pvar_meta": json.dumps(meta_lines)},
        )
    return sites, meta_lines, out.cid
