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

numba's first compile or cache load in a process imports its numpy registries, which check that scipy
provides BLAS by importing `scipy.linalg.cython_blas`: that runs all of `scipy.linalg`'s `__init__`
(120 ms of imports alone, 0.2 s on a busy machine, holding the GIL: a third of numba's start). `start`
runs that check against the one extension module it needs, loaded alone (`_check_blas_quickly`).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any


def start(*, wide_vectors: bool = True) -> None:
    """Set numba's CPU features for this process (512-bit vectors when `wide_vectors` and the host has
    AVX-512F), unless its code generator is already built or the user set NUMBA_CPU_FEATURES; and let
    OpenMP threads sleep between parallel loops (OMP_WAIT_POLICY=PASSIVE, unless set)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _check_blas_quickly()
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


_CYTHON_BLAS = "scipy.linalg.cython_blas"
_blas_lock = threading.Lock()
_blas_tried = False  # the quick check is tried once per process: an extension module is initialised once


def _check_blas_quickly() -> None:
    """Let numba check scipy's BLAS (`numba.np.arraymath` imports `scipy.linalg.cython_blas` when it is
    first imported) without importing the rest of `scipy.linalg`: the extension module is loaded on its
    own, under its name, for that import only, then taken out of `sys.modules` again, so a later
    `import scipy.linalg` is the ordinary one (it gets the same module). Tried once per process, under a
    lock (readers on several threads call `start`); nothing is done when numba's registries or
    scipy.linalg are already loaded, or when scipy is not installed, and on any failure numba's own
    check runs as it would have."""
    global _blas_tried
    with _blas_lock:
        if _blas_tried:
            return
        _blas_tried = True
        if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules or _CYTHON_BLAS in sys.modules:
            return
        try:
            _load_cython_blas()
        except Exception:  # noqa: BLE001 - an optimisation: numba imports scipy.linalg itself instead
            return
        try:
            import numba.np.arraymath  # noqa: F401  # its BLAS check, against that module
        finally:
            sys.modules.pop(_CYTHON_BLAS, None)


def _load_cython_blas() -> None:
    """`scipy.linalg.cython_blas` into `sys.modules`, without its package's `__init__`."""
    import scipy

    folder = Path(scipy.__file__).parent / "linalg"
    found = [folder / f"cython_blas{x}" for x in importlib.machinery.EXTENSION_SUFFIXES]
    path = next((p for p in found if p.is_file()), None)
    if path is None:
        raise ImportError(f"no {_CYTHON_BLAS} extension in {folder}")
    loader = importlib.machinery.ExtensionFileLoader(_CYTHON_BLAS, str(path))
    spec = importlib.util.spec_from_file_location(_CYTHON_BLAS, path, loader=loader)
    if spec is None:
        raise ImportError(f"no module spec for {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[_CYTHON_BLAS] = module
