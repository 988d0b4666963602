"""The local content-addressed store: identity, metadata, queries, companions, lineage, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prsgazer.assets import Genotypes, PrsResult, Psam, Pvar, ReferencePanel, ScoringFile, Vcf
from prsgazer.errors import AssetError, NotFoundError
from prsgazer.storage import LocalStore, cid_of_bytes


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _snapshot(store: LocalStore) -> tuple[bytes, list[str]]:
    meta = store.meta_path.read_bytes() if store.meta_path.exists() else b""
    return meta, sorted(p.name for p in store.blobs.iterdir())


def test_upload_gives_content_cid_and_blob(store: LocalStore, tmp_path: Path) -> None:
    data = b"##fileformat=VCFv4.2\n"
    a = store.upload(Vcf(path=_file(tmp_path, "me.vcf", data), sample_id="S1", genome_build="GRCh38"))
    assert a.cid == cid_of_bytes(data)
    assert (store.blobs / a.cid).read_bytes() == data
    got = store.get(a.cid)
    assert isinstance(got, Vcf) and got.sample_id == "S1" and got.filename == "me.vcf"
    assert got.extra["size"] == len(data)


def test_upload_is_idempotent_and_merges_fields(store: LocalStore, tmp_path: Path) -> None:
    p = _file(tmp_path, "a.vcf", b"same bytes")
    first = store.upload(Vcf(path=p, sample_id="S1"))
    again = store.upload(Vcf(path=_file(tmp_path, "copy.vcf", b"same bytes"), genome_build="GRCh37"))
    assert first.cid == again.cid
    recs = store.query(asset="vcf")
    assert len(recs) == 1
    merged = recs[0]
    assert merged.sample_id == "S1" and merged.genome_build == "GRCh37"
    assert merged.filename == "a.vcf"  # the first name is kept
    # new values win on conflict
    store.upload(Vcf(path=p, sample_id="S2"))
    assert store.get(first.cid).sample_id == "S2"


def test_same_bytes_cannot_become_another_asset_type(store: LocalStore, tmp_path: Path) -> None:
    p = _file(tmp_path, "x", b"bytes")
    store.upload(Vcf(path=p))
    before = _snapshot(store)
    with pytest.raises(AssetError, match="already stored as asset 'vcf'"):
        store.upload(ScoringFile(path=p))
    assert _snapshot(store) == before


def test_query_and_assemble_any_of(store: LocalStore, tmp_path: Path) -> None:
    for i, (pgs, pop) in enumerate([("PGS1", "EUR"), ("PGS1", "AFR"), ("PGS2", "EUR"), ("PGS3", "SAS")]):
        store.upload(PrsResult(path=_file(tmp_path, f"r{i}.tsv", f"{i}".encode()), pgs_id=pgs, superpopulation=pop))
    store.upload(ScoringFile(path=_file(tmp_path, "s.txt", b"s"), pgs_id="PGS1"))

    assert len(store.query(pgs_id="PGS1")) == 3  # two results and the scoring file
    assert len(store.query(asset="prs_result", pgs_id="PGS1")) == 2
    got = store.assemble(asset="prs_result", pgs_id=["PGS1", "PGS2"], superpopulation=["EUR", "SAS"])
    assert sorted((a.pgs_id, a.superpopulation) for a in got) == [("PGS1", "EUR"), ("PGS2", "EUR")]
    assert store.query(asset="prs_result", pgs_id="PGS9") == []


def test_query_coerces_and_matches_list_fields(store: LocalStore, tmp_path: Path) -> None:
    store.upload(
        ReferencePanel(path=_file(tmp_path, "p.pgen", b"pgen"), n_samples=3202, superpopulations=["AFR", "EUR"])
    )
    assert len(store.query(n_samples="3202")) == 1  # CLI strings are coerced to the field's type
    assert len(store.query(superpopulations="EUR")) == 1  # a scalar matches a list member
    assert store.query(superpopulations="EAS") == []


def test_query_rejects_unknown_keys(store: LocalStore) -> None:
    with pytest.raises(AssetError) as exc:
        store.query(asset="vcf", pgs_id="PGS1")
    assert exc.value.field == "pgs_id" and "sample_id" in str(exc.value)
    with pytest.raises(AssetError, match="allowed"):
        store.query(colour="red")


def test_one_refuses_ambiguity_listing_candidates(store: LocalStore, tmp_path: Path) -> None:
    a = store.upload(Vcf(path=_file(tmp_path, "a", b"a"), sample_id="S"))
    b = store.upload(Vcf(path=_file(tmp_path, "b", b"b"), sample_id="S"))
    with pytest.raises(AssetError) as exc:
        store.one(sample_id="S")
    assert a.cid in str(exc.value) and b.cid in str(exc.value)
    with pytest.raises(NotFoundError):
        store.one(sample_id="nobody")
    assert store.one(cid=a.cid).cid == a.cid


def _panel(store: LocalStore, tmp_path: Path) -> ReferencePanel:
    pvar = store.upload(Pvar(path=_file(tmp_path, "ref.pvar.zst", b"pvar-bytes"), panel="tiny"))
    psam = store.upload(Psam(path=_file(tmp_path, "ref.psam", b"psam-bytes"), panel="tiny"))
    return store.upload(
        ReferencePanel(
            path=_file(tmp_path, "ref.pgen", b"pgen-bytes"),
            panel="tiny",
            pvar_cid=pvar.cid,
            psam_cid=psam.cid,
        )
    )


def test_fetch_materializes_companions_as_one_prefix(store: LocalStore, tmp_path: Path) -> None:
    panel = _panel(store, tmp_path)
    got = store.fetch(panel.cid)
    assert got.path is not None and got.path.name == "ref.pgen"
    d = got.path.parent
    assert (d / "ref.pvar.zst").read_bytes() == b"pvar-bytes"
    assert (d / "ref.psam").read_bytes() == b"psam-bytes"
    out = store.fetch(panel.cid, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ref.pgen", "ref.psam", "ref.pvar.zst"]
    assert out.path == tmp_path / "out" / "ref.pgen"


def test_companion_must_exist_before_upload(store: LocalStore, tmp_path: Path) -> None:
    before = _snapshot(store)
    with pytest.raises(AssetError, match="companion pvar_cid"):
        store.upload(ReferencePanel(path=_file(tmp_path, "p.pgen", b"x"), pvar_cid=cid_of_bytes(b"nothing")))
    assert _snapshot(store) == before


def test_download_to_a_path(store: LocalStore, tmp_path: Path) -> None:
    a = store.upload(Vcf(path=_file(tmp_path, "a.vcf", b"payload")))
    got = store.download(a.cid, tmp_path / "copy.vcf")
    assert got.path == tmp_path / "copy.vcf" and got.path.read_bytes() == b"payload"


def test_delete_removes_record_and_bytes_and_guards_companions(store: LocalStore, tmp_path: Path) -> None:
    panel = _panel(store, tmp_path)
    with pytest.raises(AssetError, match="companion file of"):
        store.delete(panel.pvar_cid)
    assert store.has(panel.pvar_cid)
    store.delete(panel.cid)
    assert not store.has(panel.cid) and not (store.blobs / panel.cid).exists()
    store.delete(panel.pvar_cid)  # no longer needed by anyone
    assert not store.has(panel.pvar_cid)
    with pytest.raises(NotFoundError):
        store.delete(panel.cid)


def test_lineage_walks_cid_fields(store: LocalStore, tmp_path: Path) -> None:
    vcf = store.upload(Vcf(path=_file(tmp_path, "me.vcf", b"vcf"), sample_id="S"))
    geno = store.upload(Genotypes(path=_file(tmp_path, "g.parquet", b"geno"), vcf_cid=vcf.cid))
    sf = store.upload(ScoringFile(path=_file(tmp_path, "s.txt", b"score"), pgs_id="PGS1"))
    missing = cid_of_bytes(b"deleted long ago")
    res = store.upload(
        PrsResult(path=_file(tmp_path, "r.tsv", b"res"), genotypes_cid=geno.cid, scoring_file_cid=sf.cid)
    )
    store.update(res.cid, sample_id="S")
    lin = store.lineage(res.cid)
    parents = {p.via: p for p in lin.root.parents}
    assert set(parents) == {"genotypes_cid", "scoring_file_cid"}
    assert parents["genotypes_cid"].parents[0].cid == vcf.cid
    assert parents["genotypes_cid"].parents[0].asset == "vcf"
    up = store.lineage(vcf.cid)
    assert [(c.cid, c.via) for c in up.children] == [(geno.cid, "vcf_cid")]
    # a dangling link is shown as missing, not an error
    store.update(geno.cid, vcf_cid=missing)
    lin2 = store.lineage(res.cid)
    g = next(p for p in lin2.root.parents if p.via == "genotypes_cid")
    assert g.parents[0].missing and g.parents[0].cid == missing


@pytest.mark.parametrize(
    ("make", "error", "text"),
    [
        (lambda t: Vcf(path=t / "nope.vcf"), NotFoundError, "does not exist"),
        (lambda t: Vcf(path=t), AssetError, "is a directory"),
        (lambda t: Vcf(), AssetError, "no path"),
    ],
)
def test_bad_input_leaves_store_unchanged(store: LocalStore, tmp_path: Path, make, error, text) -> None:
    store.upload(Vcf(path=_file(tmp_path, "seed", b"seed")))
    before = _snapshot(store)
    with pytest.raises(error, match=text):
        store.upload(make(tmp_path))
    assert _snapshot(store) == before


def test_put_rejects_unknown_key_and_field_unchanged(store: LocalStore, tmp_path: Path) -> None:
    p = _file(tmp_path, "x", b"x")
    before = _snapshot(store)
    with pytest.raises(AssetError, match=r"allowed: .*distribution"):
        store.put(p, "nonsense")
    with pytest.raises(AssetError, match="allowed fields: coverage"):
        store.put(p, "vcf", colour="red")
    assert _snapshot(store) == before


def test_not_a_cid_is_a_clear_error(store: LocalStore) -> None:
    with pytest.raises(AssetError, match="is not a CID"):
        store.get("local_1234")
    with pytest.raises(NotFoundError, match="no asset with CID"):
        store.get(cid_of_bytes(b"never stored"))


def test_metadata_is_plain_json(store: LocalStore, tmp_path: Path) -> None:
    a = store.upload(Vcf(path=_file(tmp_path, "a", b"a"), sample_id="S"))
    doc = json.loads(store.meta_path.read_text())
    (rec,) = doc["assets"].values()
    assert rec["cid"] == a.cid and rec["asset"] == "vcf" and rec["sample_id"] == "S"
