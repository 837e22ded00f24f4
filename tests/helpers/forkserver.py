"""Run ``mlflow-retrain`` as a separate process without paying its imports each time.

A CLI process spends most of its life importing mlflow, pandas, scipy and scikit-learn (about
4 s of CPU here, ``benchmarks/startup_bench.py``), and the tests that drive the command line as
a user would start about a hundred of them. So each pytest worker keeps one *zygote*: a process
that has imported the package and its dependencies and nothing else (no run, no store, no
thread). Every command is a fork of it that becomes the CLI process:

* its environment is exactly the one given (``os.environ`` replaced), its working directory
  the one given, stdin ``/dev/null``, stdout and stderr files the caller reads;
* it runs ``mlflow_retrain.cli:main`` (the console script's target) on the arguments, then
  exits as the interpreter would: ``atexit`` handlers and non-daemon threads first, then the
  exit code (1, with the traceback on stderr, for an uncaught exception);
* it leads its own process group, so a timeout kills what it started too.

What a fork cannot show is what an import does, so the start-up path keeps real processes:
``mlflow run`` and the MLflow Projects cases, the console script itself (the corpus's
unreachable-server cases), shadow mode's separate processes, the servers, and the clients a
test kills or signals.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Modules every command imports sooner or later: the zygote imports them once.
PRELOAD = (
    "mlflow",
    "mlflow.sklearn",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.store.tracking.rest_store",
    "mlflow.store.artifact.s3_artifact_repo",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "skops.io",
    "optuna",
    "boto3",
    "pyarrow.parquet",
    "scipy.stats",
)


# --- the zygote (this file run as a script) ---------------------------------------------------


def _preload() -> None:
    import importlib
    import pkgutil

    import mlflow_retrain

    for name in PRELOAD:
        importlib.import_module(name)
    for module in pkgutil.walk_packages(mlflow_retrain.__path__, "mlflow_retrain."):
        with contextlib.suppress(ImportError):  # an optional extra that is not installed
            importlib.import_module(module.name)


def _child(request: dict[str, object], conn: socket.socket) -> None:
    """Become the CLI process of ``request``; never returns."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; the CLI waits
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
        os.chdir(str(request["cwd"]))
        stdin = os.open(os.devnull, os.O_RDONLY)
        stdout = os.open(str(request["stdout"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        stderr = os.open(str(request["stderr"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
            os.close(fd)
        argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
        sys.argv = ["mlflow-retrain", *argv]
        from mlflow_retrain.cli import main

        try:
            main(args=argv, prog_name="mlflow-retrain")
            code = 0
        except SystemExit as exit_:
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except BaseException:  # what the interpreter does with an uncaught exception
            import traceback

            traceback.print_exc()
            code = 1
        import threading

        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(f"exit {code}\n".encode())
        os._exit(code)


def _serve(path: str) -> None:
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if not data.endswith(b"\n"):
                continue
            request = json.loads(data)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                _child(request, conn)
            conn.sendall(f"pid {pid}\n".encode())


# --- the client ---------------------------------------------------------------------------------


class _Zygote:
    """This process's zygote, started on first use and stopped when the process exits."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.path = ""

    def socket_path(self) -> str:
        if self.process is None or self.process.poll() is not None:
            self._start()
        return self.path

    def _start(self) -> None:
        folder = tempfile.mkdtemp(prefix="mlflow-retrain-zygote-")
        self.path = os.path.join(folder, "socket")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.path], env=env, cwd=folder,
            stdout=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the CLI zygote did not start (it printed {line!r})")
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


_ZYGOTE = _Zygote()


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``mlflow-retrain *args`` as a fork of the zygote; wait for it, like ``subprocess.run``.

    Args:
        args: The command line after ``mlflow-retrain``.
        env: The process's whole environment.
        cwd: Its working directory.
        timeout: Seconds before its process group is killed and ``TimeoutExpired`` raised.

    Returns:
        Its exit code, stdout and stderr (text), as ``subprocess.run(..., text=True)`` gives.
    """
    folder = Path(tempfile.mkdtemp(prefix="cli-"))
    out, err = folder / "stdout", folder / "stderr"
    request = {"argv": list(args), "env": dict(env), "cwd": str(cwd),
               "stdout": str(out), "stderr": str(err)}  # fmt: skip
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(_ZYGOTE.socket_path())
        conn.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        pid = 0
        code: int | None = None
        while code is None:
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(["mlflow-retrain", *args], timeout) from None
            if not chunk:  # the process died without reporting: killed by a signal
                code = -signal.SIGKILL
                break
            reply += chunk
            for line in reply.decode().splitlines():
                kind, _, value = line.partition(" ")
                if kind == "pid":
                    pid = int(value)
                elif kind == "exit":
                    code = int(value)
    stdout = out.read_text(errors="replace") if out.exists() else ""
    stderr = err.read_text(errors="replace") if err.exists() else ""
    for path in (out, err):
        path.unlink(missing_ok=True)
    folder.rmdir()
    return subprocess.CompletedProcess(["mlflow-retrain", *args], code, stdout, stderr)


if __name__ == "__main__":
    _serve(sys.argv[1])
