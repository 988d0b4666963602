"""One notion of an available reference panel, usable by name from every door.

A panel is named by a plink2 prefix (a path), an installed panel (`NAME` or `NAME:BUILD`: downloaded
packs and synthesized panels under PRSGAZER_PANELS_DIR), a stored `reference_panel` asset (its name
or CID), or a known pack not yet downloaded (an error naming the command that installs it).
`panel_prefix_for` gives the CLI a prefix to read; `stored_panel` gives the workflows a stored asset,
storing an installed panel (or a prefix) on first use. See docs/reference.md ("Panels").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from prsgazer.assets import ReferencePanel
from prsgazer.catalog.reference_packs import KNOWN_PANELS, InstalledPanel, installed_panels
from prsgazer.engine.reference import open_panel, strip_ext
from prsgazer.errors import InputError, NotFoundError
from prsgazer.storage.plink import put_pfile, reference_panel_for


def _panels_dir() -> Path:
    from prsgazer.config import get_settings

    return get_settings().panels_path


def installed(name: str, build: str | None = None) -> InstalledPanel | None:
    """The installed panel `name` (or `name:build`); several builds and no build given: an error."""
    text = str(name)
    found = installed_panels(_panels_dir())
    wanted = [f"{text}:{build}"] if build and ":" not in text else []
    for cand in [*wanted, text]:
        hits = [p for p in found if p.name == cand]
        if len(hits) == 1:
            return hits[0]
    several = [p.name for p in found if p.name.split(":")[0] == text]
    if several:
        raise InputError(
            f"panel {text!r} has several builds: {', '.join(several)}", field="panel", hint="name one, e.g. NAME:GRCh38"
        )
    return None


def _is_prefix(text: str) -> Path | None:
    base = strip_ext(Path(text))
    return base if Path(f"{base}.pgen").exists() else None


def _not_found(text: str) -> InputError:
    if text.split(":")[0] in KNOWN_PANELS:
        return InputError(
            f"panel {text!r} is known but not installed",
            field="panel",
            hint=f"install it from a shell: `prsgazer reference download {text.split(':')[0]}` (no MCP tool downloads "
            "reference packs); the panels available now: MCP list_panels, shell `prsgazer reference list`",
        )
    return InputError(
        "no such panel: not a plink2 prefix (.pgen/.pvar/.psam), an installed panel or a stored reference_panel",
        file=text,
        field="panel",
        hint="the available panels: MCP list_panels, shell `prsgazer reference list`",
    )


def panel_prefix_for(store: Any, name: str | Path, *, build: str | None = None) -> Path:
    """A plink2 prefix for `name`: a path, an installed panel, or a stored reference_panel (fetched)."""
    text = str(name)
    if (base := _is_prefix(text)) is not None:
        return base
    found = installed(text, build)
    if found is not None:
        return Path(found.prefix)
    try:
        asset = reference_panel_for(store, text, build or "")
    except NotFoundError:
        asset = None
    if asset is not None:
        got = store.fetch(asset.cid)
        assert got.path is not None
        return Path(got.path).with_suffix("")
    raise _not_found(text)


def register_panel(store: Any, prefix: str | Path, name: str, build: str | None = None) -> ReferencePanel:
    """Store a panel as a ReferencePanel with its .pvar/.psam companions (the same bytes give the same asset)."""
    panel = open_panel(prefix)
    try:
        panel.require_superpopulations()
        values = {
            "panel": name,
            "genome_build": build or panel.build.build or "",
            "n_samples": panel.n_samples,
            "n_variants": panel.variants.height,
            "superpopulations": panel.superpopulations,
        }
    finally:
        panel.close()
    return put_pfile(store, prefix, "reference_panel", **values)


def stored_panel(store: Any, name: str, build: str = "") -> ReferencePanel | None:
    """The stored ReferencePanel for `name` (stored, installed or a prefix: stored on first use).

    Empty `name`: the only stored panel of `build`, if there is exactly one; else None.
    """
    if not name:
        return reference_panel_for(store, "", build)
    try:
        asset = reference_panel_for(store, name, build)
    except NotFoundError:
        asset = None
    if asset is not None:
        return asset
    base = _is_prefix(name)
    if base is not None:
        return register_panel(store, base, base.name, build or None)
    found = installed(name, build or None)
    if found is not None:
        return register_panel(store, found.prefix, found.name.split(":")[0], found.build)
    raise _not_found(name)


class PanelRow(BaseModel):
    """One panel as `prsgazer reference list` and the MCP `list_panels` show it."""

    name: str = Field(description="What to pass as `panel` (run_workflow prs_report, reference_distributions).")
    kind: str = Field(description="known (a PGS Catalog pack; installed or not), installed (under "
                      "PRSGAZER_PANELS_DIR) or stored (a reference_panel asset)")  # fmt: skip
    build: str = ""
    samples: int | None = None
    where: str = Field(default="", description="installed prefix, store CID, or the download URL of a known pack")
    installed: bool = Field(description="usable now, by name; a known pack that is not needs a download first")


def available_panels(store: Any) -> list[PanelRow]:
    """Every panel this installation knows: the catalog's packs, installed panels and stored ones."""
    installed_ = installed_panels(_panels_dir())
    rows = []
    for k in KNOWN_PANELS.values():
        inst = [p.name for p in installed_ if p.name.split(":")[0] == k.name]
        rows.append(PanelRow(name=k.name, kind="known", build="/".join(k.builds), samples=k.n_samples,
                             where=", ".join(inst) if inst else k.url, installed=bool(inst)))  # fmt: skip
    for p in installed_:
        if p.name.split(":")[0] not in KNOWN_PANELS:
            rows.append(PanelRow(name=p.name, kind="installed", build=p.build, where=p.prefix, installed=True))
    for a in store.query(asset="reference_panel"):
        rows.append(PanelRow(name=getattr(a, "panel", "") or a.cid, kind="stored", build=getattr(a, "genome_build", ""),
                             samples=getattr(a, "n_samples", None), where=a.cid, installed=True))  # fmt: skip
    return rows
