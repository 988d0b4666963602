"""Store a plink2 fileset (.pgen + .pvar/.pvar.zst + .psam) as one asset with its companions.

See docs/storage.md. The .pvar and .psam are stored first (as `pvar` / `psam` assets), then the .pgen
as the asset proper (a `reference_panel` or `genotypes`) pointing at them; `store.fetch(cid)` gives
the three back side by side under one prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

from prsgazer.assets import Asset, Genotypes, Psam, Pvar, ReferencePanel, Relatedness, asset_class
from prsgazer.errors import InputError, NotFoundError


def pfile_paths(prefix: str | Path) -> tuple[Path, Path, Path]:
    """(.pgen, .pvar or .pvar.zst, .psam) of a plink2 prefix; a missing file is an InputError."""
    p = Path(prefix)
    for ext in (".pgen", ".pvar", ".psam", ".pvar.zst"):
        if p.name.endswith(ext):
            p = p.with_name(p.name[: -len(ext)])
            break
    pgen = p.with_name(p.name + ".pgen")
    pvar = p.with_name(p.name + ".pvar")
    if not pvar.exists() and p.with_name(p.name + ".pvar.zst").exists():
        pvar = p.with_name(p.name + ".pvar.zst")
    psam = p.with_name(p.name + ".psam")
    for f in (pgen, pvar, psam):
        if not f.exists():
            raise InputError(
                "plink2 fileset is incomplete: file does not exist", file=f, hint="need .pgen, .pvar, .psam"
            )
    return pgen, pvar, psam


@overload
def put_pfile(store: Any, prefix: str | Path, asset: Literal["genotypes"] = ..., **fields: Any) -> Genotypes: ...
@overload
def put_pfile(store: Any, prefix: str | Path, asset: Literal["reference_panel"], **fields: Any) -> ReferencePanel: ...
@overload
def put_pfile(store: Any, prefix: str | Path, asset: str, **fields: Any) -> Asset: ...
def put_pfile(store: Any, prefix: str | Path, asset: str = "genotypes", **fields: Any) -> Asset:
    """Upload a plink2 fileset; `fields` are the main asset's (validated strictly)."""
    pgen, pvar, psam = pfile_paths(prefix)
    cls = asset_class(asset)
    values = cls.validate_keyvalues(fields)
    panel = values.get("panel", "")
    pvar_a = store.upload(Pvar(path=pvar, panel=panel, genome_build=values.get("genome_build", "")))
    psam_a = store.upload(Psam(path=psam, panel=panel))
    links = {"pvar_cid": pvar_a.cid, "psam_cid": psam_a.cid}
    related = pgen.with_name(pgen.name[: -len(".pgen")] + ".king.cutoff.out.id")
    if "related_cid" in cls.field_types() and related.is_file():
        n = sum(1 for ln in related.read_text().splitlines() if ln.strip() and not ln.startswith("#"))
        links["related_cid"] = store.upload(Relatedness(path=related, panel=panel, n_samples=n)).cid
    return store.upload(cls(path=pgen, **links, **values))


def reference_panel_for(store, panel: str, build: str = "") -> ReferencePanel | None:
    """The stored ReferencePanel named `panel` (a CID, or a panel name, optionally `NAME:BUILD`).

    Empty `panel`: the only stored panel of `build`, if there is exactly one; else None (no panel).
    Several stored panels with that name and build are an error listing them, never an arbitrary pick.
    """
    if panel.startswith("bafk"):
        asset = store.describe(panel)  # the record: whoever needs the bytes fetches them
        if not isinstance(asset, ReferencePanel):
            raise InputError(f"{panel} is a {asset.asset_key}, not a reference_panel", field="panel")
        return asset
    name, _, b = panel.partition(":")
    build = b or build
    filters: dict[str, str] = {"asset": "reference_panel"}
    if name:
        filters["panel"] = name
    if build:
        filters["genome_build"] = build
    found = list({a.cid: a for a in store.query(**filters)}.values())
    if not found:
        if not name:
            return None
        raise NotFoundError(
            f"no stored reference panel {panel!r}" + (f" for {build}" if build else ""),
            field="panel",
            hint="the available panels: MCP list_panels, shell `prsgazer reference list`; the demo panel comes "
            "with the demo bundle (MCP: fetch_bundle('demo'); shell: `prsgazer bundle fetch demo`)",
        )
    if len(found) > 1:
        if not name:
            return None
        cands = ", ".join(f"{a.cid} ({a.panel}, {a.genome_build}, {a.n_samples} samples)" for a in found)
        raise InputError(f"{len(found)} stored panels match {panel!r}: {cands}", field="panel",
                         hint="name one by CID")  # fmt: skip
    return found[0]
