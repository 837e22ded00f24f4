"""A team deployment for tests: ``deploy/team-server.sh`` on PostgreSQL, moto S3 and basic-auth.

``TeamServer`` runs the very script the README tells a team to run, on a fixed port so it can be
stopped and started again mid-test (a server restart), with secrets that the suite later looks
for everywhere it logged. ``S3FaultProxy`` sits between the server and moto and fails chosen
requests, as an S3 outage would.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).parents[2]
SCRIPT = REPO / "deploy" / "team-server.sh"

#: Secrets the suite hands out; none may ever show in a log, tag, param, artifact or message.
DB_PASSWORD = "db-Secret-7Hq2xZ"  # PostgreSQL here trusts local logins, so any password works
ADMIN_PASSWORD = "admin-Secret-9Kp4wY"
SERVER_AWS_SECRET = "server-aws-Secret-3Rt8"
CLIENT_AWS_SECRET = "client-aws-Secret-5Vn1"
USER_PASSWORD = "bob-Secret-2Lm6Jc"
PIPELINE_PASSWORD = "pipeline-Secret-8Wd3Fs"
EDITOR_PASSWORD = "eve-Secret-4Qz7Np"
OWNER_PASSWORD = "alice-Secret-1Bv5Rk"
#: The evidence key shared by the server and the pipeline (never by a team member).
EVIDENCE_SECRET = "evidence-Secret-" + "6Yx1" * 8
EVIDENCE_KEY = f"team-2026:{EVIDENCE_SECRET}"
SECRETS = (
    DB_PASSWORD, ADMIN_PASSWORD, SERVER_AWS_SECRET, CLIENT_AWS_SECRET, USER_PASSWORD,
    PIPELINE_PASSWORD, EDITOR_PASSWORD, OWNER_PASSWORD, EVIDENCE_SECRET,
)  # fmt: skip


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_password(url: str, password: str) -> str:
    """``postgresql://user@host/db`` with ``password`` added to the user."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 5432}"
    return parts._replace(netloc=netloc).geturl()


@dataclass
class TeamServer:
    """``deploy/team-server.sh`` as a subprocess; ``start``/``stop`` keep the port.

    Attributes:
        db_uri: The PostgreSQL URI with a password, as a team would configure it.
        bucket: The S3 bucket of the artifacts (prefix ``mlflow``).
        s3_endpoint: Where the server reaches S3 (moto, or a fault proxy in front of it).
        workdir: Holds the server log.
        mode: ``proxied`` or ``direct`` artifacts.
        auth: ``basic`` (MLflow's basic-auth app) or ``none``.
        bin_dir: The environment whose ``mlflow`` the script runs (default: this one's).
        workers: The server's worker processes (``MLFLOW_RETRAIN_WORKERS``).
    """

    db_uri: str
    bucket: str
    s3_endpoint: str
    workdir: Path
    mode: str = "proxied"
    auth: str = "basic"
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the script and wait until the server answers; fail with its log if not."""
        log = self.workdir / f"server-{len(self.logs) + 1}.log"
        self.logs.append(log)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
        env.update(
            PATH=f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            MLFLOW_RETRAIN_DB_URI=self.db_uri,
            MLFLOW_RETRAIN_ARTIFACTS=f"s3://{self.bucket}/mlflow",
            MLFLOW_RETRAIN_ARTIFACT_MODE=self.mode,
            MLFLOW_RETRAIN_AUTH=self.auth,
            MLFLOW_RETRAIN_PIPELINE_USERS="pipeline",
            MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
            MLFLOW_FLASK_SERVER_SECRET_KEY=uuid.uuid4().hex,
            MLFLOW_RETRAIN_EVIDENCE_KEY=EVIDENCE_KEY,
            MLFLOW_RETRAIN_HOST="127.0.0.1",
            MLFLOW_RETRAIN_PORT=str(self.port),
            MLFLOW_RETRAIN_WORKERS=str(self.workers),
            # One password hash per user and worker instead of one per request (~0.14 s of
            # CPU each, a few hundred per cycle); no test here changes a password.
            MLFLOW_RETRAIN_AUTH_CACHE_SECONDS="600",
            MLFLOW_S3_ENDPOINT_URL=self.s3_endpoint,
            AWS_ACCESS_KEY_ID="server-key",
            AWS_SECRET_ACCESS_KEY=SERVER_AWS_SECRET,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        )
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                ["bash", str(SCRIPT)], stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"team-server.sh exited:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"team-server.sh did not answer:\n{log.read_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the script and its server processes (``SIGKILL`` for a crash)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
        # Workers may outlive the script for a moment; wait until the port is free again.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    break
            time.sleep(0.2)
        self.process = None

    def client_env(
        self,
        *,
        user: str = "admin",
        password: str = ADMIN_PASSWORD,
        data_s3: str = "",
        signs: bool = True,
    ) -> dict[str, str]:
        """The environment of a client process: the server's URL and the user's credentials.

        ``data_s3`` is the S3 endpoint the client reads its batches from (with its own key);
        in direct mode the client also writes artifacts there. ``signs``: the client runs the
        pipeline and holds the evidence key.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
        env.update(
            MLFLOW_TRACKING_URI=self.url,
            MLFLOW_TRACKING_USERNAME=user,
            MLFLOW_TRACKING_PASSWORD=password,
            AWS_EC2_METADATA_DISABLED="true",
        )
        if signs:
            env["MLFLOW_RETRAIN_EVIDENCE_KEY"] = EVIDENCE_KEY
        if data_s3:
            env.update(
                MLFLOW_S3_ENDPOINT_URL=data_s3,
                AWS_ACCESS_KEY_ID="client-key",
                AWS_SECRET_ACCESS_KEY=CLIENT_AWS_SECRET,
                AWS_DEFAULT_REGION="us-east-1",
            )
        return env


@contextlib.contextmanager
def running(server: TeamServer) -> Iterator[TeamServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


class S3FaultProxy:
    """An HTTP proxy in front of an S3 endpoint that fails the requests ``fail_when`` matches.

    ``fail_when(method, path)`` returning true answers 503 (``ServiceUnavailable``) instead of
    forwarding, as an unavailable S3 would; ``None`` forwards everything. ``failed`` counts the
    refused requests.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.fail_when: Callable[[str, str], bool] | None = None
        self.failed = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                body = self._body()
                rule = proxy.fail_when
                if rule is not None and rule(self.command, self.path):
                    proxy.failed += 1
                    payload = (b"<?xml version='1.0'?><Error><Code>ServiceUnavailable</Code>"
                               b"<Message>injected outage</Message></Error>")  # fmt: skip
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=60
                )
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "transfer-encoding", "content-length")
                }
                headers["Content-Length"] = str(len(body))
                headers["Host"] = self.headers.get("Host", "")
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                # A HEAD answer has no body but states the object's size, which readers use.
                size = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", size or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class ClientResult:
    """What a client process returned: exit code, output and its ``--json-out``."""

    code: int
    stdout: str
    stderr: str
    data: dict[str, object] | None


#: Everything client processes printed, for the secrets check at the end of a module.
CLIENT_OUTPUT: list[str] = []


def run_client(env: dict[str, str], *args: str, cwd: Path, timeout: float = 600) -> ClientResult:
    """Run ``mlflow-retrain -v <args> --json-out ...`` as a separate process, as a user would.

    The process is a fork of one that has done the imports (``helpers.forkserver``), with
    exactly ``env`` and ``cwd``.
    """
    import json

    from helpers.forkserver import run_cli

    out = cwd / f"result-{uuid.uuid4().hex[:8]}.json"
    done = run_cli(["-v", *args, "--json-out", str(out)], env=env, cwd=cwd, timeout=timeout)
    stdout, stderr = done.stdout, done.stderr
    CLIENT_OUTPUT.extend([stdout, stderr])
    data = json.loads(out.read_text()) if out.exists() else None
    return ClientResult(done.returncode, stdout, stderr, data)


def write_signed_evidence(
    client: Any, name: str, version: str, *, baseline: str, run_id: str
) -> None:
    """Write ``promote`` evidence signed with the pipeline's key, as `compare` would.

    For tests whose subject is not the comparison (a fault during the promotion, say): the
    record is bound to the version's artifacts and gate split like a real one.
    """
    from mlflow_retrain import lineage
    from mlflow_retrain.registry.signing import EvidenceRecord, load_keyring, policy_digest
    from mlflow_retrain.registry.trust import model_id_of, version_binding

    held = client.get_model_version(name, version)
    gate = held.tags.get(lineage.TAG_GATE_DIGEST) or f"gate-of-{version}"
    client.set_model_version_tag(name, version, lineage.TAG_GATE_DIGEST, gate)
    record = EvidenceRecord(
        model_name=name,
        version=version,
        model_id=model_id_of(held.source),
        artifact_digest=version_binding(
            client.get_model_version_download_uri(name, version),
            tracking_uri=client._tracking_client.tracking_uri,
        ),
        baseline=baseline,
        decision=lineage.DECISION_PROMOTE,
        source=lineage.SOURCE_COMPARE,
        tests=(),
        data_digest=gate,
        policy_digest=policy_digest(
            client.get_registered_model(name).tags.get(lineage.TAG_POLICY)
        ),
        run_id=run_id,
        time_ms=int(time.time() * 1000),
    )
    keyring = load_keyring({"MLFLOW_RETRAIN_EVIDENCE_KEY": EVIDENCE_KEY})
    assert keyring is not None
    text = record.to_json()
    # The loose tags too, as the evidence writer keeps them (the client-side gate reads them).
    for key, value in {
        lineage.TAG_EVIDENCE_BASELINE: baseline,
        lineage.TAG_EVIDENCE_RUN: run_id,
        lineage.TAG_EVIDENCE_TIME: str(record.time_ms),
        lineage.TAG_EVIDENCE_RECORD: text,
        lineage.TAG_EVIDENCE_SIGNATURE: keyring.sign(text),
        lineage.TAG_DECISION: lineage.DECISION_PROMOTE,
    }.items():
        client.set_model_version_tag(name, version, key, value)
