"""The computation layer: pure functions on paths, polars frames and numpy arrays; no storage,
assets, catalog, Flyte, MCP or front-door imports. See docs/engine.md and docs/architecture.md.

Subpackages, each with a small public API in its `__init__` (dependencies point down only):

    common       shared vocabulary: chromosome names, builds, allele complements, the missing code
    compiled     numba set-up, explicit (nothing happens at import)
    scorefile    scoring files: header, parser, compiled reader, parsed-file cache
    genotypes    VCF / pfile / bfile behind one interface, build, absent sites, frequencies
    scoring      matching, weights, sums exact against plink2, a run, batch scoring
    reference    panels, distributions, percentiles on the same variants
    interpret    model quality and the person's report
"""
