"""Synthetic but realistic genetic data: reference panels, people and scoring files. See docs/engine.md.

Panels are simulated with msprime under an out-of-Africa model (Gravel et al. 2011 for AFR/EUR/EAS,
a SAS branch split from the European lineage, AMR as a recent three-way admixture), so the five
superpopulations have their own allele frequencies and linkage disequilibrium comes from a real
coalescent with recombination. Everything is seeded and deterministic.

Writes plink2 pfiles (`.pgen/.pvar/.psam`, psam with `SuperPop` and `Population`), single-person
VCFs (variant-only or gVCF with reference blocks) and PGS Catalog format 2.0 scoring files.
Population labels inside a superpopulation are nominal (assigned round-robin); frequency
differences are simulated at the superpopulation level.

A panel can *cover* scoring files (`cover_sites`, `synthesize_panel(cover=…)`): some of the
simulated SNPs are placed at the files' positions with their alleles, so the scores match the panel
(`prsgazer reference synthesize --cover FILE…`); the rest keep their simulated positions.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel

from prsgazer.errors import InputError
from prsgazer.fileio import Output, open_output, output_path, write_text
from prsgazer.synthetic.files import gzip_text
from prsgazer.synthetic.files import write_scorefile as write_catalog_scorefile

#: Autosome lengths (bp) of the two builds we support.
CHROM_LENGTHS: dict[str, dict[str, int]] = {
    "GRCh37": {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260, "6": 171115067,
        "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747, "11": 135006516, "12": 133851895,
        "13": 115169878, "14": 107349540, "15": 102531392, "16": 90354753, "17": 81195210, "18": 78077248,
        "19": 59128983, "20": 63025520, "21": 48129895, "22": 51304566,
    },
    "GRCh38": {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259, "6": 170805979,
        "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422, "11": 135086622, "12": 133275309,
        "13": 114364328, "14": 107043718, "15": 101991189, "16": 90338345, "17": 83257441, "18": 80373285,
        "19": 58617616, "20": 64444167, "21": 46709983, "22": 50818468,
    },
}  # fmt: skip

#: 1000 Genomes (3,202 samples) superpopulation shares and population names.
SUPERPOPULATIONS: dict[str, tuple[float, tuple[str, ...]]] = {
    "AFR": (893 / 3202, ("YRI", "LWK", "GWD", "MSL", "ESN", "ASW", "ACB")),
    "AMR": (490 / 3202, ("MXL", "PUR", "CLM", "PEL")),
    "EAS": (585 / 3202, ("CHB", "JPT", "CHS", "CDX", "KHV")),
    "EUR": (633 / 3202, ("CEU", "TSI", "FIN", "GBR", "IBS")),
    "SAS": (601 / 3202, ("GIH", "PJL", "BEB", "STU", "ITU")),
}

MUTATION_RATE = 1.29e-8
RECOMBINATION_RATE = 1.0e-8


class SynthPanel(BaseModel):
    """What `synthesize_panel` wrote."""

    prefix: Path
    n_samples: int
    n_variants: int
    genome_build: str
    seed: int
    superpopulations: dict[str, int]
    holdout_prefix: Path | None = None
    n_holdout: int = 0


def _demography():
    import msprime

    gen = 25.0
    t_af, t_b, t_eu_as, t_eu_sas, t_amr = 220e3 / gen, 140e3 / gen, 21.2e3 / gen, 700.0, 12.0
    r_eu, r_as, r_sas = 0.004, 0.0055, 0.003
    n_eu = 1000 * math.exp(r_eu * t_eu_as)
    n_as = 510 * math.exp(r_as * t_eu_as)
    n_sas = 1500 * math.exp(r_sas * t_eu_sas)
    d = msprime.Demography()
    d.add_population(name="AFR", initial_size=12300, initially_active=True)
    d.add_population(name="AMR", initial_size=30000)
    d.add_population(name="EAS", initial_size=n_as, growth_rate=r_as)
    d.add_population(name="EUR", initial_size=n_eu, growth_rate=r_eu, initially_active=True)
    d.add_population(name="SAS", initial_size=n_sas, growth_rate=r_sas)
    d.add_population(name="OOA", initial_size=2100)
    d.add_population(name="ANC", initial_size=7300)
    d.set_symmetric_migration_rate(["AFR", "EUR"], 3e-5)
    d.set_symmetric_migration_rate(["AFR", "EAS"], 1.9e-5)
    d.set_symmetric_migration_rate(["EUR", "EAS"], 9.6e-5)
    d.set_symmetric_migration_rate(["EUR", "SAS"], 5e-5)
    # OOA only exists before the EUR/EAS split (backwards in time): its migration starts there.
    d.add_symmetric_migration_rate_change(time=t_eu_as, populations=["AFR", "OOA"], rate=25e-5)
    d.add_admixture(time=t_amr, derived="AMR", ancestral=["AFR", "EUR", "EAS"], proportions=[0.2, 0.45, 0.35])
    d.add_population_split(time=t_eu_sas, derived=["SAS"], ancestral="EUR")
    d.add_population_split(time=t_eu_as, derived=["EUR", "EAS"], ancestral="OOA")
    d.add_population_split(time=t_b, derived=["OOA"], ancestral="AFR")
    d.add_population_split(time=t_af, derived=["AFR"], ancestral="ANC")
    d.sort_events()
    return d


def _split_counts(total: int, weights: Iterable[float]) -> list[int]:
    """Largest-remainder apportionment of `total` by `weights` (sums exactly to total)."""
    w = np.asarray(list(weights), dtype=float)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _eligible_sites(ts, min_maf: float) -> np.ndarray:
    """Ids of biallelic SNP sites (one mutation, derived != ancestral) with minor allele frequency >= min_maf."""
    import tskit

    tables = ts.tables
    n_sites = ts.num_sites
    msite = tables.mutations.site
    per_site = np.bincount(msite, minlength=n_sites)
    first = np.searchsorted(msite, np.arange(n_sites))
    anc = np.asarray(tskit.unpack_strings(tables.sites.ancestral_state, tables.sites.ancestral_state_offset))
    single = per_site == 1
    der = np.full(n_sites, "", dtype=object)
    der_all = tskit.unpack_strings(tables.mutations.derived_state, tables.mutations.derived_state_offset)
    der[single] = [der_all[i] for i in first[single]]
    ok = single & (anc != der.astype(str))
    if min_maf <= 0:
        return np.flatnonzero(ok)
    # derived-allele counts: samples under each mutation's node, read tree by tree
    counts = np.zeros(n_sites, dtype=np.int64)
    mut_node = tables.mutations.node
    ok_ids = np.flatnonzero(ok)
    pos = tables.sites.position
    tree = ts.first()
    for site_id in ok_ids:
        x = pos[site_id]
        if not (tree.interval.left <= x < tree.interval.right):
            tree.seek(x)
        counts[site_id] = tree.num_samples(mut_node[first[site_id]])
    freq = counts / ts.num_samples
    maf = np.minimum(freq, 1 - freq)
    return np.flatnonzero(ok & (maf >= min_maf))


#: `progress(stage, done, total)`: chromosomes simulated so far, for progress bars.
ProgressFn = Callable[[str, int, int], None]

_TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}


class CoverSites(BaseModel):
    """What `cover_sites` found in scoring files: the sites to place, their build, and what was left out."""

    model_config = {"arbitrary_types_allowed": True}

    sites: pl.DataFrame
    genome_build: str | None = None
    notes: list[str] = []


def cover_sites(scorefiles: Sequence[str | Path], *, seed: int = 42) -> CoverSites:
    """The positions and alleles of scoring files' variants, as `#CHROM POS REF ALT` (one row per position).

    Every scorable row on chromosomes 1–22 is kept (the first at a position shared by several rows).
    REF/ALT are the row's other/effect allele in a seeded random orientation, as in real panels; a row
    without an other allele gets a transition partner of its effect allele (indels without one are
    left out). Builds that differ between the files are an InputError.
    """
    from prsgazer.engine.scorefile import read_scorefile

    frames, builds, notes = [], {}, []
    for f in scorefiles:
        sf = read_scorefile(f)
        if sf.build:
            builds[Path(f).name] = sf.build
        frames.append(sf.scorable.select("chr_name", "chr_position", "effect_allele", "other_allele"))
    if len(set(builds.values())) > 1:
        raise InputError(
            "the scoring files to cover are in different builds: "
            + ", ".join(f"{k} {v}" for k, v in sorted(builds.items())),
            field="--cover",
            hint="cover files of one build (the harmonised files of that build)",
        )
    rows = pl.concat(frames) if frames else pl.DataFrame()
    n_rows = rows.height
    rows = rows.with_columns(
        pl.col("chr_name").cast(pl.String).str.replace(r"^(?i:chr)", ""),
        pl.col("effect_allele").str.to_uppercase(),
        pl.col("other_allele").str.to_uppercase(),
    )
    autosomes = [str(c) for c in range(1, 23)]
    on_autosomes = rows.filter(pl.col("chr_name").is_in(autosomes) & pl.col("chr_position").is_not_null())
    if on_autosomes.height < n_rows:
        notes.append(f"{n_rows - on_autosomes.height} row(s) off chromosomes 1–22 left out")
    partner = pl.col("effect_allele").replace_strict(_TRANSITION, default=None)
    filled = on_autosomes.with_columns(pl.coalesce("other_allele", partner).alias("other_allele"))
    usable = filled.filter(pl.col("other_allele").is_not_null() & (pl.col("other_allele") != pl.col("effect_allele")))
    if usable.height < filled.height:
        notes.append(f"{filled.height - usable.height} row(s) without a usable other allele left out")
    usable = usable.unique(["chr_name", "chr_position"], keep="first", maintain_order=True)
    flip = np.random.default_rng(seed).random(usable.height) < 0.5
    ea, oa = np.asarray(usable["effect_allele"].to_list()), np.asarray(usable["other_allele"].to_list())
    sites = pl.DataFrame(
        {
            "#CHROM": usable["chr_name"],
            "POS": usable["chr_position"].cast(pl.Int64),
            "REF": np.where(flip, ea, oa).tolist(),
            "ALT": np.where(flip, oa, ea).tolist(),
        }
    ).sort(pl.col("#CHROM").cast(pl.Int64), "POS")
    found = set(builds.values())
    return CoverSites(sites=sites, genome_build=found.pop() if found else None, notes=notes)


def _place(
    sim_pos: np.ndarray, cover_pos: np.ndarray, rng: np.random.Generator, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Final positions of a chromosome's chosen sites: a random subset (in order) moved to the covered
    positions, the others at their simulated positions, nudged off any covered one. Returns (positions,
    is_cover)."""
    n, k = len(sim_pos), len(cover_pos)
    is_cover = np.zeros(n, dtype=bool)
    if k:
        is_cover[np.sort(rng.choice(n, size=k, replace=False))] = True
    final = sim_pos.copy()
    final[is_cover] = np.sort(cover_pos)
    taken = set(final[is_cover].tolist())
    for i in np.flatnonzero(~is_cover):
        p = int(final[i])
        while p in taken:
            p = p + 1 if p < length else 1
        taken.add(p)
        final[i] = p
    return final, is_cover


def _simulate_chromosome(samples: dict[str, int], length: int, seed: int):  # -> tskit.TreeSequence
    import msprime

    ts = msprime.sim_ancestry(
        samples=samples,
        demography=_demography(),
        sequence_length=length,
        recombination_rate=RECOMBINATION_RATE,
        random_seed=seed,
    )
    # HKY with kappa 4.2 gives the human transition/transversion ratio (~2.1), so strand-ambiguous
    # SNPs (A/T, C/G) are ~1/6 of all, as in real data, not the 1/3 of a uniform model.
    model = msprime.HKY(kappa=4.2, equilibrium_frequencies=[0.295, 0.205, 0.205, 0.295])
    return msprime.sim_mutations(ts, rate=MUTATION_RATE, random_seed=seed + 1, model=model)


def synthesize_panel(
    out_prefix: str | Path,
    n_samples: int,
    n_variants: int,
    *,
    seed: int = 42,
    genome_build: str = "GRCh38",
    n_holdout: int = 0,
    chromosomes: list[str] | None = None,
    min_maf: float = 0.01,
    cover: pl.DataFrame | None = None,
    progress: ProgressFn | None = None,
) -> SynthPanel:
    """Simulate a panel and write `<out_prefix>.pgen/.pvar/.psam` (+ `<out_prefix>_holdout.*`).

    Args:
        out_prefix: output path prefix (parent directories are created).
        n_samples: panel individuals, split over AFR/AMR/EAS/EUR/SAS in 1000 Genomes proportions.
        n_variants: exact number of biallelic SNPs written, spread over the chromosomes by length.
        seed: random seed; the same arguments give the same bytes.
        genome_build: GRCh37 or GRCh38 (sets the coordinate range of each chromosome).
        n_holdout: extra individuals simulated with the panel (same variants) but written to a
            separate `<prefix>_holdout` pfile — people to score against the panel.
        chromosomes: autosomes to use (default: 1–22).
        min_maf: keep only SNPs whose minor allele frequency (panel + holdout) is at least this, as
            reference panels built for scoring do; 0 keeps every segregating site.
        cover: sites (`#CHROM POS REF ALT`, from `cover_sites`) the panel must hold: that many of its
            `n_variants` SNPs are placed there with those alleles (genotypes still come from the
            simulation); their chromosomes are always simulated.
        progress: called as `progress("simulating", done, total)` after each chromosome.
    """
    import pgenlib
    import tskit

    if genome_build not in CHROM_LENGTHS:
        raise InputError(f"unsupported genome build {genome_build!r}", field="genome_build", hint="GRCh37 or GRCh38")
    if n_samples < 5 or n_variants < 1 or n_holdout < 0:
        raise InputError("need at least 5 samples (one per superpopulation) and 1 variant", field="n_samples")
    lengths = CHROM_LENGTHS[genome_build]
    chroms = chromosomes or list(lengths)
    unknown = [c for c in chroms if c not in lengths]
    if unknown:
        raise InputError(f"unknown chromosomes {unknown}", field="chromosomes", hint="use 1..22")
    covered: dict[str, np.ndarray] = {}
    cover_alleles: dict[str, tuple[list[str], list[str]]] = {}
    if cover is not None and cover.height:
        cover = cover.with_columns(pl.col("#CHROM").cast(pl.String)).sort(pl.col("#CHROM").cast(pl.Int64), "POS")
        for (chrom,), part in cover.group_by("#CHROM", maintain_order=True):
            if chrom not in lengths:
                raise InputError(f"covered chromosome {chrom!r} is not an autosome", field="--cover")
            pos = part["POS"].to_numpy()
            if pos.max() > lengths[chrom] or pos.min() < 1:
                raise InputError(
                    f"covered position {chrom}:{int(pos.max())} lies beyond chromosome {chrom} in {genome_build}",
                    field="--cover", hint="synthesize the panel in the scoring files' build (--build)",
                )  # fmt: skip
            covered[str(chrom)] = pos
            cover_alleles[str(chrom)] = (part["REF"].to_list(), part["ALT"].to_list())
        chroms = [c for c in lengths if c in chroms or c in covered]
        n_cover = sum(len(v) for v in covered.values())
        if n_cover > n_variants:
            raise InputError(
                f"the scoring files to cover have {n_cover} sites, more than the {n_variants} variants asked for",
                field="--variants", hint=f"ask for at least {n_cover} variants",
            )  # fmt: skip
    prefix = Path(out_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)

    total = n_samples + n_holdout
    pops = list(SUPERPOPULATIONS)
    per_pop = dict(zip(pops, _split_counts(total, [SUPERPOPULATIONS[p][0] for p in pops]), strict=True))
    per_pop = {p: max(c, 1) for p, c in per_pop.items()}
    n_covered = sum(len(v) for v in covered.values())
    extra = dict(zip(chroms, _split_counts(n_variants - n_covered, [lengths[c] for c in chroms]), strict=True))
    per_chrom = {c: extra[c] + len(covered.get(c, ())) for c in chroms}

    # Pilot: sites per bp for this sample size, to size each chromosome's simulated stretch.
    pilot_len = 200_000
    pilot = _simulate_chromosome(per_pop, pilot_len, seed + 7919)
    density = max(len(_eligible_sites(pilot, min_maf)), 1) / pilot_len

    rng = np.random.default_rng(seed)
    # individuals are laid out population by population in msprime's sample order
    ind_pop = np.repeat(np.arange(len(pops)), [per_pop[p] for p in pops])
    holdout = np.zeros(total, dtype=bool)
    if n_holdout:
        holdout[rng.choice(total, size=n_holdout, replace=False)] = True

    hold_prefix = Path(f"{prefix}_holdout") if n_holdout else None
    # the .pgen files go through the safe writer too: written to temp files, renamed into place when complete
    pgens = [Output(prefix.with_suffix(".pgen")), *([Output(f"{hold_prefix}.pgen")] if hold_prefix else [])]
    panel_w = pgenlib.PgenWriter(
        str(pgens[0].temp_path()).encode(), int((~holdout).sum()), variant_ct=n_variants, nonref_flags=False
    )
    hold_w = (
        pgenlib.PgenWriter(str(pgens[1].temp_path()).encode(), n_holdout, variant_ct=n_variants, nonref_flags=False)
        if hold_prefix
        else None
    )
    pvar_parts: list[pl.DataFrame] = []
    try:
        for ci, chrom in enumerate(chroms):
            if progress is not None:
                progress("simulating", ci, len(chroms))
            want = per_chrom[chrom]
            if want == 0:
                continue
            sim_len = min(int(want / density * 1.3) + 1000, lengths[chrom])
            for attempt in range(8):
                ts = _simulate_chromosome(per_pop, sim_len, seed * 1000 + ci * 10 + attempt)
                candidates = _eligible_sites(ts, min_maf)
                if len(candidates) >= want or sim_len >= lengths[chrom]:
                    break
                sim_len = min(int(sim_len * max(1.3, 1.2 * want / max(len(candidates), 1))), lengths[chrom])
            if len(candidates) < want:
                raise InputError(
                    f"chromosome {chrom} yielded {len(candidates)} SNPs with MAF >= {min_maf}, {want} needed",
                    field="n_variants",
                    hint="ask for fewer variants, more chromosomes or a lower min_maf",
                )
            chosen = np.sort(rng.choice(candidates, size=want, replace=False))
            tables = ts.tables
            anc = tskit.unpack_strings(tables.sites.ancestral_state, tables.sites.ancestral_state_offset)
            der = tskit.unpack_strings(tables.mutations.derived_state, tables.mutations.derived_state_offset)
            first_mut = np.searchsorted(tables.mutations.site, chosen)
            # scale >= 1 maps distinct integer positions to strictly increasing ones
            scale = lengths[chrom] / sim_len
            pos = (tables.sites.position[chosen] * scale).astype(np.int64) + 1
            rows_ref = [anc[i] for i in chosen]
            rows_alt = [der[i] for i in first_mut]
            if chrom in covered:
                pos, is_cover = _place(pos, covered[chrom], rng, lengths[chrom])
                refs, alts = cover_alleles[chrom]
                for j, i in enumerate(np.flatnonzero(is_cover)):
                    rows_ref[i], rows_alt[i] = refs[j], alts[j]
                order = np.argsort(pos, kind="stable")
                chosen, pos = chosen[order], pos[order]
                rows_ref, rows_alt = [rows_ref[i] for i in order], [rows_alt[i] for i in order]
            variant = tskit.Variant(ts)
            for lo in range(0, want, 4096):
                block = np.empty((min(4096, want - lo), total), dtype=np.int8)
                for j, site_id in enumerate(chosen[lo : lo + 4096]):
                    variant.decode(int(site_id))
                    hap = variant.genotypes
                    block[j] = hap[0::2] + hap[1::2]
                _flush(block, holdout, panel_w, hold_w)
            pvar_parts.append(
                pl.DataFrame({"#CHROM": [chrom] * len(pos), "POS": pos, "REF": rows_ref, "ALT": rows_alt})
            )
        panel_w.close()
        if hold_w is not None:
            hold_w.close()
    except BaseException:
        for w in (panel_w, hold_w):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.close()
        for o in pgens:
            o.discard()
        raise
    for o in pgens:
        o.commit()
    if progress is not None:
        progress("simulating", len(chroms), len(chroms))

    pvar = (
        pl.concat(pvar_parts)
        .with_columns(ID=pl.format("{}:{}:{}:{}", pl.col("#CHROM"), pl.col("POS"), pl.col("REF"), pl.col("ALT")))
        .select("#CHROM", "POS", "ID", "REF", "ALT")
    )
    samples = _sample_table(per_pop, ind_pop, rng)
    _write_pfile_text(prefix, pvar, samples.filter(~pl.Series(holdout)), genome_build)
    if hold_prefix:
        _write_pfile_text(hold_prefix, pvar, samples.filter(pl.Series(holdout)), genome_build)
    counts = samples.filter(~pl.Series(holdout)).group_by("SuperPop").len()
    return SynthPanel(
        prefix=prefix,
        n_samples=int((~holdout).sum()),
        n_variants=n_variants,
        genome_build=genome_build,
        seed=seed,
        superpopulations=dict(zip(counts["SuperPop"].to_list(), counts["len"].to_list(), strict=True)),
        holdout_prefix=hold_prefix,
        n_holdout=n_holdout,
    )


def _flush(block: np.ndarray, holdout: np.ndarray, panel_w, hold_w) -> None:
    panel_w.append_biallelic_batch(np.ascontiguousarray(block[:, ~holdout]))
    if hold_w is not None:
        hold_w.append_biallelic_batch(np.ascontiguousarray(block[:, holdout]))


def _sample_table(per_pop: dict[str, int], ind_pop: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    pops = list(per_pop)
    iids, superpops, populations = [], [], []
    counters = dict.fromkeys(pops, 0)
    for code in ind_pop:
        sp = pops[code]
        names = SUPERPOPULATIONS[sp][1]
        k = counters[sp]
        counters[sp] += 1
        pop = names[k % len(names)]
        iids.append(f"{pop}{k // len(names) + 1:04d}")
        superpops.append(sp)
        populations.append(pop)
    return pl.DataFrame(
        {
            "#IID": iids,
            "SEX": rng.integers(1, 3, size=len(iids)).tolist(),
            "SuperPop": superpops,
            "Population": populations,
        }
    )


def _write_pfile_text(prefix: Path, pvar: pl.DataFrame, psam: pl.DataFrame, genome_build: str) -> None:
    # `##contig` lines with the build's lengths: readers (engine.build.detect_build, plink2) learn the build.
    chroms = pvar.get_column("#CHROM").unique(maintain_order=True).to_list()
    header = "".join(
        f"##contig=<ID={c},length={CHROM_LENGTHS[genome_build][c]},assembly={genome_build}>\n" for c in chroms
    )

    with open_output(f"{prefix}.pvar", "w") as fh:
        fh.write(header)
        pvar.write_csv(fh, separator="\t")
    with output_path(f"{prefix}.psam") as tmp:
        psam.write_csv(tmp, separator="\t")
    # simulated people are unrelated by construction: an empty relatedness list, in plink2's form, tells
    # the ancestry PCA so (a kinship estimate on a short simulated genome finds spurious relatives)
    write_text(f"{prefix}.king.cutoff.out.id", "#IID\n")


def read_simulated_pvar(prefix: str | Path) -> pl.DataFrame:
    """A simulated panel's .pvar as `#CHROM POS ID REF ALT` (its `##` header lines skipped)."""
    return pl.read_csv(f"{prefix}.pvar", separator="\t", comment_prefix="##", schema_overrides={"#CHROM": pl.String})


def read_pfile_sample(prefix: str | Path, sample_index: int) -> np.ndarray:
    """Alt-allele dosages (int8, -9 missing) of one sample of a pfile, all variants."""
    import pgenlib

    prefix = Path(prefix)
    reader = pgenlib.PgenReader(
        str(prefix.with_suffix(".pgen")).encode(), sample_subset=np.array([sample_index], dtype=np.uint32)
    )
    try:
        n = reader.get_variant_ct()
        out = np.empty((n, 1), dtype=np.int8)
        reader.read_range(0, n, out)
    finally:
        reader.close()
    return out[:, 0]


def write_person_vcf(
    prefix: str | Path,
    out_path: str | Path,
    *,
    sample_index: int = 0,
    sample_id: str | None = None,
    genome_build: str = "GRCh38",
    gvcf: bool = False,
    chr_prefix: bool = False,
) -> Path:
    """Write one individual of a pfile as a single-sample VCF (gzip).

    Variant-only (the usual WGS VCF: only sites where the person carries an ALT allele) by default;
    with `gvcf=True`, homozygous-reference stretches between those sites are written as gVCF
    reference blocks (`<NON_REF>`, `END=`), each covering up to the next variant site.
    """
    prefix = Path(prefix)
    pvar = read_simulated_pvar(prefix)
    psam = pl.read_csv(f"{prefix}.psam", separator="\t")
    sid = sample_id or psam["#IID"][sample_index]
    dos = read_pfile_sample(prefix, sample_index)
    lengths = CHROM_LENGTHS[genome_build]
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    c = "chr" if chr_prefix else ""
    header = [
        "##fileformat=VCFv4.2",
        f"##source=prsgazer.simulate (panel {prefix.name})",
        f"##reference={genome_build}",
        *(f"##contig=<ID={c}{k},length={v},assembly={genome_build}>" for k, v in lengths.items()),
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
    ]
    if gvcf:
        header += [
            '##ALT=<ID=NON_REF,Description="Represents any possible alternative allele at this location">',
            '##INFO=<ID=END,Number=1,Type=Integer,Description="Stop position of the interval">',
        ]
    header.append(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sid}")
    gt = {0: "0/0", 1: "0/1", 2: "1/1", -9: "./."}

    with gzip_text(out, compresslevel=5) as fh:
        fh.write("\n".join(header) + "\n")
        chrom_col = pvar["#CHROM"].to_list()
        pos_col = pvar["POS"].to_list()
        ids, refs, alts = pvar["ID"].to_list(), pvar["REF"].to_list(), pvar["ALT"].to_list()
        block_start: dict[str, int] = {}
        for i, d in enumerate(dos.tolist()):
            chrom, pos = chrom_col[i], pos_col[i]
            if gvcf:
                start = block_start.get(chrom, 1)
                if d != 0 and pos > start:
                    fh.write(f"{c}{chrom}\t{start}\t.\tN\t<NON_REF>\t.\t.\tEND={pos - 1}\tGT:DP:GQ\t0/0:30:99\n")
                if d != 0:
                    fh.write(
                        f"{c}{chrom}\t{pos}\t{ids[i]}\t{refs[i]}\t{alts[i]},<NON_REF>\t50\tPASS\t.\tGT:DP:GQ\t{gt[d]}:30:99\n"
                    )
                    block_start[chrom] = pos + 1
            elif d != 0:
                fh.write(f"{c}{chrom}\t{pos}\t{ids[i]}\t{refs[i]}\t{alts[i]}\t50\tPASS\t.\tGT:DP:GQ\t{gt[d]}:30:99\n")
        if gvcf:
            for chrom in dict.fromkeys(chrom_col):
                start = block_start.get(chrom, 1)
                fh.write(f"{c}{chrom}\t{start}\t.\tN\t<NON_REF>\t.\t.\tEND={lengths[chrom]}\tGT:DP:GQ\t0/0:30:99\n")
    return out


def write_scorefile(
    pvar: pl.DataFrame,
    out_path: str | Path,
    *,
    pgs_id: str,
    n_variants: int,
    seed: int,
    genome_build: str = "GRCh38",
    trait: str = "Synthetic trait",
    trait_efo: str = "",
    harmonised: bool = True,
    weight_sd: float | None = None,
    pgs_name: str | None = None,
) -> Path:
    """Write a PGS Catalog format 2.0 scoring file over `n_variants` random variants of a panel.

    The effect allele is ALT or REF at random; weights are normal with sd `weight_sd`
    (default 1/sqrt(n)). With `harmonised=True` the file carries `hm_chr/hm_pos` and `#HmPOS_build`
    like the Catalog's harmonised downloads. `pvar` needs `#CHROM, POS, ID, REF, ALT` columns.
    """
    rng = np.random.default_rng(seed)
    n = min(n_variants, pvar.height)
    idx = np.sort(rng.choice(pvar.height, size=n, replace=False))
    sub = pvar[idx]
    flip = rng.random(n) < 0.5
    ref, alt = np.asarray(sub["REF"].to_list()), np.asarray(sub["ALT"].to_list())
    effect = np.where(flip, ref, alt)
    other = np.where(flip, alt, ref)
    sd = weight_sd if weight_sd is not None else 1.0 / math.sqrt(max(n, 1))
    weights = rng.normal(0.0, sd, size=n)
    cols = {
        "rsID": sub["ID"].to_list(),
        "chr_name": sub["#CHROM"].to_list(),
        "chr_position": sub["POS"].to_list(),
        "effect_allele": effect.tolist(),
        "other_allele": other.tolist(),
        "effect_weight": [f"{w:.6g}" for w in weights],
    }
    if harmonised:
        cols |= {
            "hm_source": ["ENSEMBL"] * n,
            "hm_rsID": sub["ID"].to_list(),
            "hm_chr": sub["#CHROM"].to_list(),
            "hm_pos": sub["POS"].to_list(),
            "hm_inferOtherAllele": [None] * n,
        }
    return write_catalog_scorefile(
        pl.DataFrame(cols, schema_overrides={"hm_inferOtherAllele": pl.String} if harmonised else None),
        out_path,
        pgs_id=pgs_id,
        pgs_name=pgs_name,
        genome_build=genome_build,
        trait=trait,
        trait_efo=trait_efo,
        weight_type="beta",
        hm_build=genome_build if harmonised else None,
        citation="prsgazer synthetic data (not a published score)",
    )
