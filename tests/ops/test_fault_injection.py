"""Fault injection into every derived cache (issue 14, item 1): no flipped byte ever yields a result
different from the clean run.

For each cache kind, a clean run fills the cache and gives the reference result. Then, 20 times
(seeded): one byte at a random offset of one entry of that kind — the entry's bytes or its seal — is
XORed with a random non-zero mask, and the same request runs again on the damaged cache. Each trial
is counted as detected and rebuilt (a warning from the seal check, and the clean result), a loud
failure (an exception), or a wrong result (anything else): wrong results must be 0.

Kinds: parsed scoring files (`scorefiles/`), normalised VCFs with a gVCF's blocks companion
(`genotypes/`), FASTA indexes (`fasta/`), panel site tables (`panels/*.sites.parquet`), remembered
file CIDs of a panel's files and of a person's VCF (`file_cids/`), batch results and manifests
(`reference/batch/`), catalog responses (`catalog/http/`), the ancestry PCA (`ancestry/`), notebook
figures (`figures/`) and, with the shared data's chain files, lifted scoring files (`lifted/`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from loguru import logger

from prsgazer.sealed import SEAL_SUFFIX, read_seal, seal_path

TRIALS = 20


def _write_fasta(sites: pl.DataFrame, path: Path, width: int = 60) -> Path:
    rng = np.random.default_rng(0)
    length = int(sites["pos"].max()) + 500
    seq = np.array(list("ACGT"))[rng.integers(0, 4, length)]
    seq[sites["pos"].to_numpy() - 1] = sites["ref"].to_list()
    text = "".join(seq)
    path.write_text("\n".join([">chr1 synthetic", *(text[i : i + width] for i in range(0, length, width))]) + "\n")
    return path


@pytest.fixture(scope="module")
def inputs(synth_panel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A variant-only WGS VCF with a FASTA reference and its scoring file; a gVCF person of the synthetic
    panel (reference blocks) with the panel's scoring files; the panel itself."""
    from prsgazer.synthetic.files import random_cohort, random_score, write_scorefile, write_vcf
    from prsgazer.synthetic.simulate import write_person_vcf

    d = tmp_path_factory.mktemp("faults")
    cohort = random_cohort(1, 500, seed=5)
    info, files = synth_panel
    return {
        "sparse": write_vcf(cohort, d / "variants.vcf.gz", contig_lengths={"1": 249250621}, skip_homref=True),
        "fasta": _write_fasta(cohort.sites, d / "ref.fa"),
        "score": write_scorefile(random_score(cohort, 300, seed=3, flip_rate=0.2).rows, d / "P.txt", pgs_id="P"),
        "gvcf": write_person_vcf(info.holdout_prefix, d / "P2.g.vcf.gz", sample_index=2, sample_id="P2", gvcf=True),
        "panel": info.prefix,
        "panel_files": files[:2],
    }


def _person(inputs: dict[str, Any], cache: Path) -> Any:
    """Two person runs through the operations layer: the WGS VCF with the FASTA, the gVCF."""
    from prsgazer.ops.params import ScoreParams, Tuning
    from prsgazer.ops.score import score_files

    tuning = Tuning.from_settings(cache_dir=cache)
    wgs, _ = score_files(inputs["sparse"], [inputs["score"]], ScoreParams(), tuning, coverage="wgs",
                         reference=inputs["fasta"])  # fmt: skip
    gvcf, _ = score_files(inputs["gvcf"], inputs["panel_files"], ScoreParams(min_overlap=0.1), tuning)
    assert wgs.absent.n_homref_resolved > 50 and gvcf.absent.coverage.value == "gvcf"
    return (wgs.table, wgs.absent.model_dump(), gvcf.table, gvcf.absent.model_dump())


def _distributions(inputs: dict[str, Any], cache: Path, *, fresh_results: bool) -> Any:
    """Distributions over the panel (batch scoring); `fresh_results`: without the batch results cache,
    so the panel's own caches decide the numbers."""
    from prsgazer.ops.distributions import distributions_for_files
    from prsgazer.ops.params import ScoreParams, Tuning

    if fresh_results:
        shutil.rmtree(cache / "reference", ignore_errors=True)
    tuning = Tuning.from_settings(cache_dir=cache)
    run = distributions_for_files(inputs["panel"], inputs["panel_files"], ScoreParams(), tuning,
                                  out_dir=cache.parent / "dist-out")  # fmt: skip
    return (run.batch.table(), [fd.path.read_bytes() for fd in run.scores if fd.path is not None])


_CATALOG = {f"https://www.pgscatalog.org/rest/score/PGS{k:06d}": {"id": f"PGS{k:06d}", "name": f"score {k}",
            "variants_number": 1000 + k, "trait_efo": [{"id": "EFO_0004339", "label": "body height"}]}
            for k in range(1, 9)}  # fmt: skip


def _catalog(cache: Path) -> Any:
    """Catalog responses through the response cache; a miss is answered by the origin and cached."""
    from prsgazer.catalog.http import ResponseCache

    rc = ResponseCache(cache / "catalog" / "http", ttl=86400)
    out = {}
    for url, body in _CATALOG.items():
        hit = rc.get(url)
        if hit is None:
            rc.put(url, body)
            out[url] = body
        else:
            out[url] = hit.body
    return json.dumps(out, sort_keys=True)


def _pca(inputs: dict[str, Any], cache: Path) -> Any:
    """The panel's reference PCA (the ancestry model every projection uses)."""
    from prsgazer.ops.ancestry import panel_pca
    from prsgazer.ops.params import Tuning

    pca = panel_pca(inputs["panel"], Tuning.from_settings(cache_dir=cache))
    return (pca.variants, pca.loadings, pca.singular_values, pca.samples, pca.scores, pca.settings.model_dump())


def _figures(cache: Path) -> Any:
    """Notebook figures through their cache; a miss is drawn again (here: a fixed SVG per key)."""
    from prsgazer.notebooks.figures import cached_svg

    return [cached_svg(cache, {"pgs_id": f"PGS{k:06d}"}, lambda k=k: f"<svg><text>figure {k}</text></svg>")
            for k in range(6)]  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, pl.DataFrame):
        return isinstance(b, pl.DataFrame) and a.equals(b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _is_table(p: Path) -> bool:
    """A normalised VCF's main table (its `.blocks.parquet` companion is sealed with it)."""
    return p.name.endswith(".parquet") and not p.name.endswith(".blocks.parquet")


#: kind → (folder under the cache, which files are its entries, which request reads them)
KINDS: dict[str, tuple[str, Callable[[Path], bool], str]] = {
    "parsed scoring files": ("scorefiles", lambda p: p.suffix == ".parquet", "person"),
    "normalised VCFs (+ gVCF blocks)": ("genotypes", lambda p: _is_table(p), "person"),
    "target indexes": ("target_index", lambda p: p.suffix == ".parquet", "person"),
    "FASTA indexes": ("fasta", lambda p: p.suffix == ".fai", "person"),
    "panel site tables": ("panels", lambda p: p.name.endswith(".sites.parquet"), "panel"),
    "file CIDs (a panel's files)": ("file_cids", lambda p: p.suffix == ".json", "panel"),
    "file CIDs (a person's VCF)": ("file_cids", lambda p: p.suffix == ".json", "person"),
    # a manifest's seal lists its results as companions: a flip lands in a manifest, a result or a seal
    "batch results and manifests": ("reference/batch", lambda p: p.suffix == ".json", "batch"),
    "catalog responses": ("catalog/http", lambda p: p.suffix == ".json", "catalog"),
    "ancestry PCA": ("ancestry", lambda p: p.name.endswith(".pca.parquet"), "pca"),
    "notebook figures": ("figures", lambda p: p.suffix == ".svg", "figures"),
}


def _flip(entries: list[Path], rng: np.random.Generator) -> tuple[Path, int]:
    """XOR one byte at a random offset of one entry: its bytes, then its companions' (a gVCF's blocks),
    then its seal's."""
    entry = entries[int(rng.integers(len(entries)))]
    sealed = read_seal(entry) or {}
    companions = [entry.parent / name for name in sealed if name != entry.name]
    files = [entry, *companions, seal_path(entry)]
    sizes = [f.stat().st_size for f in files]
    offset = int(rng.integers(sum(sizes)))
    k = 0
    while offset >= sizes[k]:
        offset -= sizes[k]
        k += 1
    target, at = files[k], offset
    data = bytearray(target.read_bytes())
    data[at] ^= int(rng.integers(1, 256))
    target.chmod(0o644)
    target.write_bytes(bytes(data))
    return target, at


def _trials(kind: str, folder: str, is_entry: Callable[[Path], bool], run: Callable[[Path], Any], cache: Path,
            seed: int) -> dict[str, int]:  # fmt: skip
    """A clean run, then TRIALS seeded flips each followed by the same run: the counts."""
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING", format="{message}")
    try:
        clean = run(cache)

        def entries() -> list[Path]:
            return sorted(p for p in (cache / folder).rglob("*") if p.is_file() and is_entry(p))

        assert entries(), f"{kind}: the clean run left no entry under {folder}"
        assert all(seal_path(p).exists() for p in entries()), f"{kind}: every entry is sealed"
        rng = np.random.default_rng(seed)
        n = {"trials": 0, "detected and rebuilt": 0, "loud failures": 0, "wrong results": 0}
        for _ in range(TRIALS):
            target, at = _flip(entries(), rng)
            warnings.clear()
            n["trials"] += 1
            try:
                got = run(cache)
            except Exception:  # noqa: BLE001 - a loud failure is an allowed outcome; restore the cache
                n["loud failures"] += 1
                shutil.rmtree(cache / folder, ignore_errors=True)
                assert _same(run(cache), clean)
                continue
            if not _same(got, clean):
                n["wrong results"] += 1
            elif any("discarded" in w for w in warnings):
                n["detected and rebuilt"] += 1
            else:
                pytest.fail(f"{kind}: byte {at} of {target.name} flipped, same result but nothing detected")
        assert n["wrong results"] == 0, f"{kind}: {n}"
        assert all(seal_path(p).exists() for p in entries())  # rebuilt entries are sealed again
        return n
    finally:
        logger.remove(sink)


def _table(figures: dict[str, dict[str, int]]) -> str:
    width = max(map(len, figures))
    lines = [f"{'cache kind':<{width}}  trials  detected+rebuilt  loud failures  wrong results"]
    lines += [f"{kind:<{width}}  {n['trials']:>6}  {n['detected and rebuilt']:>16}  {n['loud failures']:>13}  "
              f"{n['wrong results']:>13}" for kind, n in figures.items()]  # fmt: skip
    return "\n" + "\n".join(lines)


@pytest.mark.slow
def test_flipped_bytes_in_every_derived_cache_never_give_a_wrong_result(inputs: dict[str, Any], tmp_path: Path) -> None:
    requests: dict[str, Callable[[Path], Any]] = {
        "person": lambda c: _person(inputs, c),
        "panel": lambda c: _distributions(inputs, c, fresh_results=True),
        "batch": lambda c: _distributions(inputs, c, fresh_results=False),
        "catalog": _catalog,
        "pca": lambda c: _pca(inputs, c),
        "figures": _figures,
    }
    figures = {
        kind: _trials(kind, folder, is_entry, requests[request], tmp_path / f"kind{k}" / "cache", 1400 + k)
        for k, (kind, (folder, is_entry, request)) in enumerate(KINDS.items())
    }
    print(_table(figures))
    assert len(figures) == len(KINDS) and all(n["trials"] == TRIALS for n in figures.values())
    assert SEAL_SUFFIX == ".cid"


@pytest.mark.slow
def test_flipped_bytes_in_lifted_scoring_files_never_give_a_wrong_result(shared_data: Path, tmp_path: Path) -> None:
    """A GRCh38 copy of PGS001229_22 scored on CINECA (GRCh37), lifted with hg38ToHg19."""
    from prsgazer.engine.scorefile.liftover import lift_scorefile, read_chain
    from prsgazer.engine.scorefile.read import read_scorefile
    from prsgazer.ops.params import ScoreParams, Tuning
    from prsgazer.ops.score import score_files

    chains = shared_data / "chain"
    rows = read_scorefile(shared_data / "scorefiles/PGS001229_22.txt").variants
    to38, _ = lift_scorefile(rows, read_chain(chains / "hg19ToHg38.over.chain.gz"))
    lines = ["#pgs_id=PGS001229", "#genome_build=GRCh38", "rsID\tchr_name\tchr_position\teffect_allele\t"
             "other_allele\teffect_weight"]  # fmt: skip
    lines += ["\t".join(str(v) for v in r) for r in to38.select(
        "rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight").iter_rows()]  # fmt: skip
    custom = tmp_path / "custom38.txt"
    custom.write_text("\n".join(lines) + "\n")
    vcf = shared_data / "genomes/cineca/cineca_synthetic_subset.vcf.gz"

    def run(cache: Path) -> Any:
        tuning = Tuning.from_settings(cache_dir=cache)
        options = {"chains": (chains / "hg38ToHg19.over.chain.gz",)}
        got, _ = score_files(vcf, [custom], ScoreParams(), tuning, build="GRCh37", **options)
        assert got.liftover and got.liftover[0].n_rows > 800
        return got.table

    n = _trials("lifted scoring files", "lifted", lambda p: p.suffix == ".parquet", run, tmp_path / "cache", 1499)
    print(_table({"lifted scoring files": n}))
