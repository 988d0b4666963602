"""Bundles: named sets of assets (demo data, reference sets) described by a manifest. See docs/storage.md.

A manifest (`bundles/<name>/manifest.json`) lists the bundle's assets by role with their CIDs and
fields, and how to obtain them: a `generator` recipe (seeded synthetic data, rebuilt bit-for-bit) and/or
a storage remote that holds them. `fetch_bundle(name)` makes every asset available in the store:
already there → nothing to do; in the configured remote → pulled and verified by CID; otherwise
regenerated from the recipe, uploaded, and checked against the manifest's CIDs (a difference, e.g.
from another simulator version, is reported, never hidden).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from prsgazer.assets import Asset, ScoringFile, Vcf
from prsgazer.cid import is_cid
from prsgazer.errors import InputError, NotFoundError, PrsgazerError
from prsgazer.storage.names import is_plain_name

_REPO_BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
_PACKAGED_BUNDLES = Path(__file__).resolve().parent / "_bundles"


class BundleAsset(BaseModel):
    role: str
    asset: str
    filename: str = ""
    cid: str = ""
    keyvalues: dict[str, Any] = Field(default_factory=dict)

    @field_validator("cid")
    @classmethod
    def _cid(cls, value: str) -> str:
        if value and not is_cid(value):
            raise ValueError(f"{value!r} is not a CID")
        return value

    @field_validator("filename")
    @classmethod
    def _filename(cls, value: str) -> str:
        if value and not is_plain_name(value):
            raise ValueError(f"{value!r} is not a plain file name")
        return value


class Bundle(BaseModel):
    name: str
    description: str
    generator: dict[str, Any] = Field(default_factory=dict)
    assets: list[BundleAsset] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "assets": [{"role": a.role, "asset": a.asset, "cid": a.cid} for a in self.assets],
            "generated": bool(self.generator),
        }


class FetchedBundle(BaseModel):
    """What `fetch_bundle` did: the assets by role, where they came from, and anything to know."""

    name: str
    source: str  # "store" | "remote" | "generated"
    seconds: float
    assets: dict[str, dict[str, Any]]
    notes: list[str] = Field(default_factory=list)

    def cid(self, role: str) -> str:
        return self.assets[role]["cid"]


def bundles_dir() -> Path:
    return _REPO_BUNDLES if _REPO_BUNDLES.is_dir() else _PACKAGED_BUNDLES


def list_bundles() -> list[Bundle]:
    d = bundles_dir()
    return [load_bundle(p.parent.name) for p in sorted(d.glob("*/manifest.json"))]


def load_bundle(name: str) -> Bundle:
    if not is_plain_name(name):  # a name, never a path: `../../elsewhere` must not load another manifest
        raise InputError(
            f"{name!r} is not a bundle name", field="name",
            hint="a plain name such as 'demo' (MCP: list_bundles; shell: `prsgazer bundle list`), not a path",
        )  # fmt: skip
    path = bundles_dir() / name / "manifest.json"
    if not path.exists():
        known = ", ".join(b.parent.name for b in sorted(bundles_dir().glob("*/manifest.json")))
        raise NotFoundError(f"no bundle named {name!r}", field="name", hint=f"known: {known or '(none)'}")
    try:
        return Bundle.model_validate_json(path.read_text())
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"bundle manifest is not valid: {where}: {err['msg']}", file=path) from None


def fetch_bundle(name: str, store: Any = None, *, workdir: Path | None = None) -> FetchedBundle:
    """Make every asset of bundle `name` available in the store (see the module docstring)."""
    from prsgazer.storage import default_store

    store = store or default_store()
    bundle = load_bundle(name)
    t0 = time.perf_counter()
    if bundle.assets and all(a.cid for a in bundle.assets):
        try:
            assets = {a.role: store.get(a.cid) for a in bundle.assets}
            for a in bundle.assets:
                _companions_present(store, assets[a.role])
            source = "store" if not getattr(store, "remote", None) else "store/remote"
            return _result(bundle, assets, source, t0, [])
        except PrsgazerError:
            pass  # not (all) stored: generate below
    if not bundle.generator:
        raise NotFoundError(
            f"bundle {name!r} is not in the store or its remote, and has no generator",
            field="name",
            hint="set PRSGAZER_REMOTE to a store that holds it",
        )
    assets = _generate(bundle, store, workdir)
    notes = []
    for a in bundle.assets:
        got = assets.get(a.role)
        if got is not None and a.cid and got.cid != a.cid:
            notes.append(
                f"{a.role}: regenerated bytes differ from the manifest ({got.cid} != {a.cid}); "
                "the simulator or a library version probably changed. The regenerated data is used."
            )
    return _result(bundle, assets, "generated", t0, notes)


def _companions_present(store: Any, asset: Asset) -> None:
    for name in type(asset).companions:
        ref = getattr(asset, name, "")
        if ref:
            store.verify(ref)


def _result(bundle: Bundle, assets: dict[str, Asset], source: str, t0: float, notes: list[str]) -> FetchedBundle:
    return FetchedBundle(
        name=bundle.name,
        source=source,
        seconds=round(time.perf_counter() - t0, 2),
        assets={
            role: {"cid": a.cid, "asset": a.asset_key, "filename": a.filename, **a.to_keyvalues()}
            for role, a in assets.items()
        },
        notes=notes,
    )


def _generate(bundle: Bundle, store: Any, workdir: Path | None) -> dict[str, Asset]:
    kind = bundle.generator.get("kind")
    if kind == "synthetic-demo":
        return _generate_synthetic_demo(bundle.generator, store, workdir)
    raise NotFoundError(f"bundle {bundle.name!r} has an unknown generator {kind!r}", field="generator")


def _generate_synthetic_demo(gen: dict[str, Any], store: Any, workdir: Path | None) -> dict[str, Asset]:
    """A synthetic reference panel, one person from the same simulation, and scoring files for them."""
    import tempfile

    import polars as pl

    from prsgazer.storage.plink import put_pfile
    from prsgazer.synthetic.simulate import synthesize_panel, write_person_vcf, write_scorefile

    seed = int(gen["seed"])
    build = gen["genome_build"]
    p = gen["panel"]
    person = gen["person"]
    with tempfile.TemporaryDirectory(prefix="prsgazer-bundle-", dir=workdir) as tmp:
        d = Path(tmp)
        info = synthesize_panel(
            d / p["name"],
            int(p["samples"]),
            int(p["variants"]),
            seed=seed,
            genome_build=build,
            n_holdout=int(person.get("candidates", 10)),
        )
        out: dict[str, Asset] = {}
        out["panel"] = put_pfile(
            store,
            info.prefix,
            "reference_panel",
            panel=p["name"],
            genome_build=build,
            n_samples=info.n_samples,
            n_variants=info.n_variants,
            superpopulations=sorted(info.superpopulations),
        )
        hold = pl.read_csv(f"{info.holdout_prefix}.psam", separator="\t")
        want = person.get("superpopulation", "")
        pops = hold["SuperPop"].to_list()
        index = pops.index(want) if want in pops else 0
        vcf = write_person_vcf(
            info.holdout_prefix,
            d / f"{person['sample_id']}.vcf.gz",
            sample_index=index,
            sample_id=person["sample_id"],
            genome_build=build,
        )
        out["person"] = store.upload(
            Vcf(
                path=vcf,
                sample_id=person["sample_id"],
                n_samples=1,
                genome_build=build,
                coverage=person.get("coverage", "wgs"),
                source="synthetic",
                superpopulation=pops[index],
            )
        )
        pvar = pl.read_csv(f"{info.prefix}.pvar", separator="\t", comment_prefix="##",
                           schema_overrides={"#CHROM": pl.String})  # fmt: skip
        for k, s in enumerate(gen["scores"]):
            path = write_scorefile(
                pvar,
                d / f"{s['pgs_id']}.txt",
                pgs_id=s["pgs_id"],
                n_variants=int(s["n_variants"]),
                seed=seed + 101 * (k + 1),
                genome_build=build,
                trait=s["trait"],
                trait_efo=s.get("trait_efo", ""),
                pgs_name=s.get("pgs_name"),
            )
            out[f"score:{s['pgs_id']}"] = store.upload(
                ScoringFile(
                    path=path,
                    pgs_id=s["pgs_id"],
                    pgs_name=s.get("pgs_name", ""),
                    trait=s["trait"],
                    trait_efo=[s["trait_efo"]] if s.get("trait_efo") else [],
                    genome_build=build,
                    hm_build=build,
                    n_variants=int(s["n_variants"]),
                    weight_type="beta",
                    source="synthetic",
                )
            )
    return out
