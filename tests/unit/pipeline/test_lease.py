"""The cycle lease: which claim on a model wins, and when a claim no longer binds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

from mlflow_retrain import lineage
from mlflow_retrain.pipeline.lease import Lease, LeaseHolder

NOW = 1_800_000_000_000


def _run(lease: Lease | None, *, status: str = "RUNNING", raw: str | None = None) -> Any:
    tags = {}
    if lease is not None:
        tags[lineage.TAG_LEASE] = lease.to_tag()
    if raw is not None:
        tags[lineage.TAG_LEASE] = raw
    run_id = lease.run_id if lease is not None else "r-raw"
    return SimpleNamespace(info=SimpleNamespace(run_id=run_id, status=status),
                           data=SimpleNamespace(tags=tags))  # fmt: skip


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _holder(claimed_ms: int = NOW) -> LeaseHolder:
    holder = LeaseHolder(client=None, run_id="mine", seconds=60)  # type: ignore[arg-type]
    holder.lease = Lease("mine", socket.gethostname(), os.getpid(), claimed_ms,
                         claimed_ms + 60_000)  # fmt: skip
    return holder


def test_tag_round_trip() -> None:
    lease = Lease("abc", "host-a", 42, NOW, NOW + 5000)

    assert Lease.from_run(_run(lease)) == lease


def test_unreadable_or_missing_tag_is_no_lease() -> None:
    assert Lease.from_run(_run(None)) is None
    assert Lease.from_run(_run(None, raw="{not json")) is None
    assert Lease.from_run(_run(None, raw='{"host": "h"}')) is None


def test_an_expired_lease_does_not_bind() -> None:
    lease = Lease("abc", "another-host", 42, NOW - 10_000, NOW - 1)

    assert not lease.is_live(NOW, max_ms=60_000)
    assert Lease("abc", "another-host", 42, NOW - 10_000, NOW + 1).is_live(NOW, max_ms=60_000)


def test_a_lease_of_a_dead_process_on_this_host_is_released_at_once() -> None:
    host = socket.gethostname()

    assert not Lease("abc", host, _dead_pid(), NOW, NOW + 60_000).is_live(NOW, max_ms=60_000)
    assert Lease("abc", host, os.getppid(), NOW, NOW + 60_000).is_live(NOW, max_ms=60_000)
    # This process runs one cycle at a time: an older lease of its own is a leftover.
    assert not Lease("abc", host, os.getpid(), NOW, NOW + 60_000).is_live(NOW, max_ms=60_000)


def test_the_earlier_claim_wins_and_ties_go_to_the_smaller_run_id() -> None:
    early = Lease("b", "h", 1, NOW, NOW + 1)
    late = Lease("a", "h", 1, NOW + 1, NOW + 1)

    assert early.precedes(late)
    assert not late.precedes(early)
    assert Lease("a", "h", 1, NOW, NOW).precedes(Lease("b", "h", 1, NOW, NOW))


def test_rival_is_the_earliest_live_running_claim_before_ours() -> None:
    import time

    now = int(time.time() * 1000)
    holder = _holder(claimed_ms=now)
    before = Lease("before", "remote", 7, now - 500, now + 60_000)
    earliest = Lease("earliest", "remote", 8, now - 900, now + 60_000)
    after = Lease("after", "remote", 9, now + 500, now + 60_000)
    expired = Lease("expired", "remote", 10, now - 2000, now - 1)
    finished = Lease("finished", "remote", 11, now - 3000, now + 60_000)
    runs = [_run(before), _run(after), _run(expired), _run(finished, status="FINISHED"),
            _run(earliest), _run(holder.lease)]  # fmt: skip

    rival = holder.rival(runs)

    assert rival is not None
    assert rival.run_id == "earliest"
    assert holder.rival([_run(after), _run(expired), _run(holder.lease)]) is None


def test_a_lease_running_longer_than_lease_seconds_allows_binds_nothing() -> None:
    host = "another-host"
    an_hour = 3_600_000

    assert Lease("abc", host, 42, NOW, NOW + an_hour).is_live(NOW, max_ms=an_hour)
    # Further ahead than any cycle's heartbeat writes (beyond the clock slack): planted.
    assert not Lease("abc", host, 42, NOW, NOW + 2 * an_hour).is_live(NOW, max_ms=an_hour)
    # Claimed in the future, so it would win every tie of "the earlier claim".
    assert not Lease("abc", host, 42, NOW + an_hour, NOW + an_hour).is_live(NOW, max_ms=an_hour)
