"""One live cycle per model: a lease on the pipeline run, kept alive by a heartbeat.

Two ``mlflow-retrain run`` processes for the same model (two cron hosts, a retried job) must not
both retrain: that would register two versions of the same batch. A cycle therefore claims the
model before it does anything else: it writes a lease tag on its own pipeline run, waits a
moment for concurrent claims to land, and reads the model's other running cycles. If one of
them holds a live lease that was claimed first, this cycle steps back (outcome ``busy``).

MLflow's tracking API has no compare-and-set, so the claim is "write, settle, read". It is
exact when every claim lands within the settle time (1 s by default); the registry gate still
guarantees at most one promotion whatever happens.

A lease is live while its heartbeat renews it (every third of ``lease_seconds``). A holder on
this host whose process is gone releases it at once, so a cycle killed by a crash is resumed
without waiting for the lease to run out; a holder on another host releases it when it expires.

A lease this package did not write binds nothing: one that runs further ahead than
``lease_seconds`` (plus :data:`CLOCK_SLACK_MS` for clocks that disagree), or was claimed in the
future, is ignored with a warning, so a planted lease cannot hold a model for longer than a
real one could. Only the pipeline's own experiment is searched for rivals (the loop).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

logger = logging.getLogger(__name__)

#: Seconds between writing the claim and reading the rivals' claims.
SETTLE_SECONDS = 1.0
#: How far two hosts' clocks may disagree before a lease from the other counts as forged.
CLOCK_SLACK_MS = 60_000


@dataclass(frozen=True)
class Lease:
    """A cycle's claim on its model, as stored in the ``mlflow_retrain.lease`` run tag.

    Attributes:
        run_id: The pipeline run holding the lease.
        host: Host name of the process holding it.
        pid: Its process id.
        claimed_ms: When it was claimed (epoch ms); the earlier claim wins.
        expires_ms: When it lapses unless the heartbeat renews it (epoch ms).
    """

    run_id: str
    host: str
    pid: int
    claimed_ms: int
    expires_ms: int

    def to_tag(self) -> str:
        """Return the tag value (JSON without the run id, which is the run's own)."""
        return json.dumps(
            {"host": self.host, "pid": self.pid, "claimed_ms": self.claimed_ms,
             "expires_ms": self.expires_ms},
            sort_keys=True,
        )  # fmt: skip

    @classmethod
    def from_run(cls, run: Any) -> Lease | None:
        """Read the lease of a pipeline run; ``None`` when it has none or it is unreadable."""
        raw = run.data.tags.get(lineage.TAG_LEASE)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(run.info.run_id, str(data["host"]), int(data["pid"]),
                       int(data["claimed_ms"]), int(data["expires_ms"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def is_live(self, now_ms: int, *, max_ms: int) -> bool:
        """Whether the lease still binds: not expired, and its holder not known to be dead.

        Args:
            now_ms: The time now (epoch ms).
            max_ms: The longest a lease may run ahead (``lease_seconds``, in ms): a lease
                further ahead, or claimed after ``now_ms``, was not written by a cycle and is
                ignored (both up to :data:`CLOCK_SLACK_MS`).
        """
        if self.expires_ms <= now_ms:
            return False
        if (
            self.expires_ms - now_ms > max_ms + CLOCK_SLACK_MS
            or self.claimed_ms > now_ms + CLOCK_SLACK_MS
        ):
            logger.warning(
                "Ignoring the lease on run %s: it runs longer than safety.lease_seconds allows "
                "or was claimed in the future, so no cycle wrote it.",
                self.run_id,
            )
            return False
        if self.host == socket.gethostname():
            # This process runs one cycle at a time, so an older lease of its own is a leftover
            # of a cycle that failed; another process on this host is checked directly.
            return self.pid != os.getpid() and _process_exists(self.pid)
        return True

    def precedes(self, other: Lease) -> bool:
        """Whether this claim wins over ``other``: claimed earlier, ties broken by run id."""
        return (self.claimed_ms, self.run_id) < (other.claimed_ms, other.run_id)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _now_ms() -> int:
    return int(time.time() * 1000)


class LeaseHolder:
    """Claim the model for one pipeline run and renew the claim until ``release``.

    Args:
        client: Tracking client.
        run_id: The pipeline run that claims.
        seconds: Lease length; the heartbeat renews it every third of that.
    """

    def __init__(self, client: MlflowClient, run_id: str, *, seconds: float) -> None:
        self._client = client
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        now = _now_ms()
        self.lease = Lease(run_id, socket.gethostname(), os.getpid(), now,
                           now + int(seconds * 1000))  # fmt: skip

    def claim(self) -> None:
        """Write the lease and start the heartbeat."""
        self._client.set_tag(self.lease.run_id, lineage.TAG_LEASE, self.lease.to_tag())
        self._thread = threading.Thread(target=self._beat, name="mlflow-retrain-lease",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def rival(self, runs: Iterable[Any]) -> Lease | None:
        """The live lease among ``runs`` (other running cycles of the model) that beats ours."""
        now = _now_ms()
        longest = int(self._seconds * 1000)
        winners = [
            lease
            for run in runs
            if run.info.run_id != self.lease.run_id and run.info.status == "RUNNING"
            for lease in [Lease.from_run(run)]
            if lease is not None
            and lease.is_live(now, max_ms=longest)
            and lease.precedes(self.lease)
        ]
        return min(winners, key=lambda lease: (lease.claimed_ms, lease.run_id), default=None)

    def release(self) -> None:
        """Stop the heartbeat; the run's end (status no longer RUNNING) frees the model."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _beat(self) -> None:
        interval = max(self._seconds / 3, 0.1)
        while not self._stop.wait(interval):
            renewed = Lease(**{**self.lease.__dict__, "expires_ms": _now_ms()
                               + int(self._seconds * 1000)})  # fmt: skip
            try:
                self._client.set_tag(self.lease.run_id, lineage.TAG_LEASE, renewed.to_tag())
                self.lease = renewed
            except Exception as err:
                logger.warning("Could not renew the cycle's lease (%s); retrying.",
                               err.__class__.__name__)  # fmt: skip
