"""`prsgazer ancestry GENOTYPES --panel PANEL --out ANC.tsv`: where each sample stands among the
panel's populations. See docs/ancestry.md.

Front door only: the panel's reference PCA (computed once, kept in the cache) and the projection are
`prsgazer.ops.ancestry`'s. OUT has one row per sample: `sample_id superpopulation probability
low_confidence P_<pop>… PC1…PC10 missing_rate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def ancestry(
    genotypes: Annotated[Path, typer.Argument(help="VCF/VCF.gz/gVCF, plink2 prefix or plink1 prefix.")],
    panel: Annotated[str, typer.Option("--panel", help="Reference panel (prefix or name) with SuperPop in the psam.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="ANC.tsv: one row per sample; - for stdout.")],
    build: Annotated[
        str | None, typer.Option("--build", help="Genotype build when the header does not say (GRCh37|GRCh38).")
    ] = None,
    coverage: Annotated[
        str | None,
        typer.Option("--coverage", help="What a single person's VCF covers: wgs (absent = hom-ref), gvcf, wes, array."),
    ] = None,
) -> None:
    """Place each sample on the panel's reference PCA and name its most similar superpopulation."""
    from prsgazer.cli import err
    from prsgazer.cli.render import steps
    from prsgazer.engine.genotypes import genotype_files
    from prsgazer.engine.scoring.run import write_tsv
    from prsgazer.fileio import check_output
    from prsgazer.ops.ancestry import ancestry_of, panel_pca
    from prsgazer.ops.panels import panel_prefix_for
    from prsgazer.ops.params import Tuning
    from prsgazer.storage import default_store

    tuning = Tuning.from_settings()
    prefix = panel_prefix_for(default_store(), panel, build=build)
    inputs = [*genotype_files(genotypes), *genotype_files(prefix)]
    check_output(out, inputs=inputs, field="--out")  # a bad --out fails before the PCA, not after it
    with steps("ancestry", 2) as step:
        step("reference PCA of the panel (computed once, then kept)")
        pca = panel_pca(prefix, tuning, build=build)
        step("projecting the samples")
        result = ancestry_of(genotypes, pca, tuning, coverage=coverage, panel_prefix=prefix)
    write_tsv(result.table, out, inputs=inputs, field="--out")
    proj = result.projection
    err.print(
        f"{result.table.height} sample(s) on {pca.n_pcs} PCs of {pca.samples.height} reference samples; "
        f"{proj.n_shared} of {proj.n_model_variants} PCA variants shared ({proj.method}, coverage {result.coverage})",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    for w in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    for row in result.table.head(5).iter_rows(named=True):
        flag = " (low confidence)" if row["low_confidence"] else ""
        err.print(f"{row['sample_id']}: {row['superpopulation']} p={row['probability']:.3f}{flag}", highlight=False)
    err.print(f"wrote {out}", highlight=False)
