"""Native thread limits for tuning: how many OpenMP and BLAS threads one fit may use.

scikit-learn's HistGradientBoosting (OpenMP) and the linear models (BLAS) start one native
thread per core by default. Tuning processes that share a machine then ask for ``workers x
cores`` threads on ``cores`` cores. OpenMP threads also spin at every barrier, so when the
cores are busy, a thread waiting for a descheduled sibling burns its time slice: small fits
become many times slower (``benchmarks/cycle_bench.py`` measures it). Each trial therefore
runs under :func:`threadpoolctl.threadpool_limits`, sized here; parallelism belongs across
trials (``tuning.workers`` processes), not inside one fit.

Cores are counted as :func:`joblib.cpu_count` counts them (scikit-learn does the same): the
CPU affinity of the process (``taskset``, ``os.sched_getaffinity``), the cgroup CPU quota
(Docker ``--cpus``, Kubernetes limits) and ``LOKY_MAX_CPU_COUNT``, never more than
``os.cpu_count()``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow_retrain.exceptions import InvalidConfigError

__all__ = ["AUTO", "available_cores", "limit_threads", "native_threads", "resolve_threads"]

logger = logging.getLogger(__name__)

#: The ``tuning.threads`` setting that sizes the limit from the cores and the workers.
AUTO = "auto"


def available_cores() -> int:
    """Return the cores this process may use: affinity, cgroup quota, ``LOKY_MAX_CPU_COUNT``.

    Always at least 1.
    """
    from joblib import cpu_count

    return max(1, int(cpu_count(only_physical_cores=False)))


def resolve_threads(setting: int | str, *, workers: int = 1, cores: int | None = None) -> int:
    """Return the native threads each of ``workers`` processes may use at once.

    Args:
        setting: ``tuning.threads``: ``"auto"`` or a positive whole number.
        workers: Processes of this machine that fit models at the same time
            (``tuning.workers`` while tuning, 1 for the refit after it).
        cores: The usable cores (default: :func:`available_cores`).

    Returns:
        ``max(1, cores // workers)`` for ``"auto"``, else ``setting`` itself (a warning is
        logged when ``setting * workers`` exceeds the cores).

    Raises:
        InvalidConfigError: If ``setting`` is neither ``"auto"`` nor a whole number >= 1, or
            ``workers`` is below 1.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidConfigError(f"workers must be a whole number >= 1, got {workers!r}.")
    if setting != AUTO and (
        isinstance(setting, bool) or not isinstance(setting, int) or setting < 1
    ):
        raise InvalidConfigError(
            f"'tuning.threads' must be 'auto' or a whole number >= 1, got {setting!r}. Fix it "
            "in retrain.yaml or MLFLOW_RETRAIN_TUNING__THREADS."
        )
    cores = available_cores() if cores is None else max(1, cores)
    if setting == AUTO:
        return max(1, cores // workers)
    assert isinstance(setting, int)
    if setting * workers > cores:
        logger.warning(
            "tuning.threads = %d with %d process(es) fitting at once asks for %d native "
            "threads on %d usable core(s); the fits will compete for the cores. Lower "
            "tuning.threads or set it to auto.",
            setting, workers, setting * workers, cores,
        )  # fmt: skip
    return setting


@contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Limit every loaded OpenMP and BLAS library to ``threads`` threads inside the block.

    The previous limits are restored on exit. ``None`` leaves the libraries' own defaults.
    Libraries first loaded inside the block are not limited, so enter it around each fit
    (the objective does so per trial), not once per process.
    """
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def native_threads() -> int:
    """Return the most threads any loaded OpenMP or BLAS library may use now (1 if none is
    loaded)."""
    from threadpoolctl import threadpool_info

    return max((int(lib["num_threads"]) for lib in threadpool_info()), default=1)
