"""Synthetic panels, people and scoring files: exact counts, determinism, realism, plink2-readable."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import missing
from prsgazer.engine.scorefile.header import read_header
from prsgazer.synthetic.simulate import (
    read_pfile_sample,
    read_simulated_pvar,
    synthesize_panel,
    write_person_vcf,
    write_scorefile,
)


def _read_all(prefix: Path, n_samples: int, n_variants: int) -> np.ndarray:
    import pgenlib

    r = pgenlib.PgenReader(f"{prefix}.pgen".encode())
    out = np.empty((n_variants, n_samples), dtype=np.int8)
    r.read_range(0, n_variants, out)
    r.close()
    return out


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("synth")
    info = synthesize_panel(d / "panel", 300, 3000, seed=11, n_holdout=3, genome_build="GRCh37")
    return info


def test_exact_counts_and_files(panel) -> None:
    pvar = read_simulated_pvar(panel.prefix)
    psam = pl.read_csv(f"{panel.prefix}.psam", separator="\t")
    assert pvar.height == 3000 and psam.height == 300 and panel.n_samples == 300
    assert psam.columns == ["#IID", "SEX", "SuperPop", "Population"]
    assert set(psam["SuperPop"]) == {"AFR", "AMR", "EAS", "EUR", "SAS"}
    assert sum(panel.superpopulations.values()) == 300
    assert psam["#IID"].n_unique() == 300
    # positions strictly increase within each chromosome and stay inside GRCh37
    for _chrom, grp in pvar.group_by("#CHROM"):
        pos = grp["POS"].to_numpy()
        assert (np.diff(pos) > 0).all()
    assert set(pvar["#CHROM"]) == {str(c) for c in range(1, 23)}
    assert (pvar["REF"] != pvar["ALT"]).all()
    assert set(pvar["REF"]) | set(pvar["ALT"]) <= set("ACGT")
    hold = pl.read_csv(f"{panel.holdout_prefix}.psam", separator="\t")
    assert hold.height == 3 and not set(hold["#IID"]) & set(psam["#IID"])


def test_deterministic(panel, tmp_path: Path) -> None:
    again = synthesize_panel(tmp_path / "panel", 300, 3000, seed=11, n_holdout=3, genome_build="GRCh37")
    for ext in (".pgen", ".pvar", ".psam"):
        a = hashlib.sha256(Path(f"{panel.prefix}{ext}").read_bytes()).hexdigest()
        b = hashlib.sha256(Path(f"{again.prefix}{ext}").read_bytes()).hexdigest()
        assert a == b, ext


def test_population_structure_and_ld(panel) -> None:
    g = _read_all(panel.prefix, 300, 3000).astype(float)
    psam = pl.read_csv(f"{panel.prefix}.psam", separator="\t")
    pops = psam["SuperPop"].to_numpy()
    freqs = {p: g[:, pops == p].mean(axis=1) / 2 for p in ("AFR", "EUR", "EAS")}
    # Hudson Fst between AFR and EAS: real 1000G genome-wide is ~0.15; demand clear structure
    p1, p2 = freqs["AFR"], freqs["EAS"]
    num = (p1 - p2) ** 2 - p1 * (1 - p1) / (pops == "AFR").sum() - p2 * (1 - p2) / (pops == "EAS").sum()
    den = p1 * (1 - p2) + p2 * (1 - p1)
    ok = den > 0
    fst = num[ok].mean() / den[ok].mean()
    assert 0.05 < fst < 0.4
    # AFR carries the most diversity (out-of-Africa bottleneck): more segregating sites
    seg = {p: ((f > 0) & (f < 1)).sum() for p, f in freqs.items()}
    assert seg["AFR"] > seg["EUR"] and seg["AFR"] > seg["EAS"]
    # LD: neighbouring common variants correlate more than random pairs
    common = np.where((g.mean(axis=1) / 2 > 0.1) & (g.mean(axis=1) / 2 < 0.9))[0]
    adjacent = [abs(np.corrcoef(g[a], g[b])[0, 1]) for a, b in itertools.pairwise(common)]
    rng = np.random.default_rng(0)
    random_pairs = [abs(np.corrcoef(g[a], g[b])[0, 1]) for a, b in rng.choice(common, size=(len(adjacent), 2))]
    assert np.nanmean(adjacent) > 1.5 * np.nanmean(random_pairs)


def test_person_vcf_lists_exactly_the_carried_alleles(panel, tmp_path: Path) -> None:
    out = write_person_vcf(panel.holdout_prefix, tmp_path / "me.vcf.gz", sample_index=1, genome_build="GRCh37")
    again = write_person_vcf(panel.holdout_prefix, tmp_path / "again.vcf.gz", sample_index=1, genome_build="GRCh37")
    assert out.read_bytes() == again.read_bytes()  # reproducible gzip: same content, same CID
    dos = read_pfile_sample(panel.holdout_prefix, 1)
    pvar = read_simulated_pvar(panel.holdout_prefix)
    lines = [ln for ln in gzip.open(out, "rt") if not ln.startswith("#")]
    assert len(lines) == int((dos > 0).sum())
    carried = {f"{c}:{p}": int(d) for c, p, d in zip(pvar["#CHROM"], pvar["POS"], dos, strict=True) if d > 0}
    for ln in lines:
        f = ln.rstrip("\n").split("\t")
        assert {"0/1": 1, "1/1": 2}[f[9].split(":")[0]] == carried[f"{f[0]}:{f[1]}"]
    header = [ln for ln in gzip.open(out, "rt") if ln.startswith("##")]
    assert "##reference=GRCh37\n" in header
    assert any("ID=1,length=249250621" in h for h in header)


def test_gvcf_blocks_cover_the_reference_stretches(panel, tmp_path: Path) -> None:
    out = write_person_vcf(panel.holdout_prefix, tmp_path / "me.g.vcf.gz", sample_index=0, gvcf=True)
    rows = [ln.split("\t") for ln in gzip.open(out, "rt") if not ln.startswith("#")]
    by_chrom: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        start = int(r[1])
        end = int(r[7].split("=")[1]) if r[7].startswith("END=") else start
        by_chrom.setdefault(r[0], []).append((start, end))
    for spans in by_chrom.values():
        # contiguous, non-overlapping, starting at 1
        assert spans[0][0] == 1
        for (_s1, e1), (s2, _) in itertools.pairwise(spans):
            assert s2 == e1 + 1


def test_scorefile_is_catalog_format_and_plink2_agrees(panel, tmp_path: Path) -> None:
    pvar = read_simulated_pvar(panel.prefix)
    path = write_scorefile(
        pvar,
        tmp_path / "SYN1.txt.gz",
        pgs_id="SYN000001",
        n_variants=200,
        seed=5,
        genome_build="GRCh37",
        trait="Synthetic height",
    )
    h = read_header(path)
    assert h.pgs_id == "SYN000001" and h.HmPOS_build == "GRCh37" and h.variants_number == 200
    body = pl.read_csv(path, separator="\t", comment_prefix="#")
    assert body.height == 200 and body["hm_inferOtherAllele"].null_count() == 200
    # our own weighted sum (numpy) equals plink2's on the same file
    if not shutil.which("plink2"):
        missing("plink2 not installed")
    plain = tmp_path / "s.tsv"
    body.select("rsID", "effect_allele", "effect_weight").write_csv(plain, separator="\t")
    subprocess.run(
        [
            "plink2",
            "--pfile",
            str(panel.prefix),
            "--score",
            str(plain),
            "1",
            "2",
            "3",
            "header",
            "cols=+scoresums",
            "--out",
            str(tmp_path / "o"),
        ],
        check=True,
        capture_output=True,
    )
    plink = pl.read_csv(tmp_path / "o.sscore", separator="\t")
    g = _read_all(panel.prefix, 300, 3000).astype(float)
    idx = {v: i for i, v in enumerate(pvar["ID"])}
    ref = dict(zip(pvar["ID"], pvar["REF"], strict=True))
    total = np.zeros(300)
    for vid, ea, w in body.select("rsID", "effect_allele", "effect_weight").iter_rows():
        d = g[idx[vid]]
        total += w * (2 - d if ea == ref[vid] else d)
    np.testing.assert_allclose(plink["SCORE1_SUM"].to_numpy(), total, atol=1e-5)
