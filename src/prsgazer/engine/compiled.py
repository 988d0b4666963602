"""Setting up numba for the engine's compiled code, explicitly (nothing happens at import).

LLVM's tuning of recent x86 cores caps auto-vectorised loops at 256 bits ("prefer-256-bit");
`scoring.kernels.sparse_accumulate` runs 1.7x faster with 512-bit vectors on AVX-512 hosts. numba
fixes its CPU features when it builds its code generator (the first compile or cache load in a
process), so `start` must run before any compiled code does: every engine entry point that uses
compiled code calls it first with its options' `wide_vectors`. The first call in a process decides;
later calls change nothing. A NUMBA_CPU_FEATURES the user set always wins. numba's on-disk cache keys
compiled code by these features, so cached code always matches them. See docs/engine.md.

numba's parallel loops run on OpenMP threads (libgomp), which by default spin for a while after each
loop before sleeping. The scoring loops alternate with genotype reads on other threads; on a busy
2-core machine the spinning took the readers' CPU (a 20,000-sample dosage cohort: 1.3x the CPU time
and 1.5x the wall time). `start` therefore asks for passive waiting (OMP_WAIT_POLICY=PASSIVE) unless
the user chose a policy; libgomp reads it when numba first runs a parallel loop, which is after `start`.
"""

from __future__ import annotations

import os
from typing import Any


def start(*, wide_vectors: bool = True) -> None:
    """Set numba's CPU features for this process (512-bit vectors when `wide_vectors` and the host has
    AVX-512F), unless its code generator is already built or the user set NUMBA_CPU_FEATURES; and let
    OpenMP threads sleep between parallel loops (OMP_WAIT_POLICY=PASSIVE, unless set)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not wide_vectors or os.environ.get("NUMBA_CPU_FEATURES"):
        return
    import llvmlite.binding as ll
    import numba
    from numba.core import registry

    if "_toplevel_target_context" in vars(registry.cpu_target):  # code generator already built
        return
    features = ll.get_host_cpu_features()
    config: Any = numba.config  # its settings are set at run time: no static attributes
    if features.get("avx512f") and config.CPU_FEATURES is None:
        config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"
