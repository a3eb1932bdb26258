"""Run a real ``dominion serve`` for the tests of a Python application.

::

    with DominionServer("/usr/local/bin/dominion", token="t") as server:
        client = server.client()
        job_id = client.enqueue("dominion.noop")
        assert client.wait(job_id).state == "completed"

The server listens on a free loopback port, keeps its data in a temporary directory that is
removed afterwards, and is stopped (SIGTERM, then SIGKILL if it does not stop in time) when the
``with`` block ends. Start-up waits for ``/healthz`` with a deadline and, on failure, raises an
error with the end of the server's log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Mapping, Optional, Sequence

from .client import Client

__all__ = ["DominionServer", "build_dominion", "dominion_binary"]

_ADDR = re.compile(r'addr[=":]+"?(127\.0\.0\.1:\d+)')


def build_dominion(repo: str, out_dir: str) -> str:
    """Build ``cmd/dominion`` of the Go module at ``repo`` into ``out_dir``; return its path."""
    exe = os.path.join(out_dir, "dominion.exe" if os.name == "nt" else "dominion")
    subprocess.run(["go", "build", "-o", exe, "./cmd/dominion"], cwd=repo, check=True)
    return exe


def dominion_binary(repo: str, work_dir: str) -> str:
    """The dominion binary to test with, named ``dominion``: ``$DOMINION_BIN`` when set (linked
    into ``work_dir`` under that name if it has another), else built from ``repo`` into
    ``work_dir``."""
    given = os.environ.get("DOMINION_BIN")
    if not given:
        return build_dominion(repo, work_dir)
    if os.path.splitext(os.path.basename(given))[0] == "dominion":
        return given
    link = os.path.join(work_dir, "dominion")
    os.symlink(os.path.abspath(given), link)
    return link


class DominionServer:
    """A ``dominion serve`` process started for a test; use it as a context manager.

    ``env`` adds environment variables (``DOMINION_HANDLERS``, ``DOMINION_WORKFLOWS``, …) to the
    server's; ``args`` adds command-line flags. ``url`` and ``token`` are set once started.
    """

    def __init__(self, binary: str, token: str = "test-token", env: Optional[Mapping[str, str]] = None,
                 args: Sequence[str] = (), startup_timeout: float = 60.0) -> None:
        self.binary = binary
        self.token = token
        self.env = dict(env or {})
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.url = ""
        self.data_dir = ""
        self._proc: Optional[subprocess.Popen] = None
        self._log_path = ""

    def client(self, timeout: float = 10.0) -> Client:
        """A :class:`~dominion.Client` of this server, with its token."""
        return Client(self.url, token=self.token, timeout=timeout)

    def log(self) -> str:
        """The server's log so far (its standard error)."""
        try:
            with open(self._log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self) -> "DominionServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="dominion-test-")
        self._log_path = os.path.join(self.data_dir, "serve.log")
        env = dict(os.environ)
        for name in ("REDIS_URL", "DATABASE_URL", "DOMINION_ADDR"):
            env.pop(name, None)  # embedded, in the temporary directory
        env.update({"DOMINION_DATA_DIR": self.data_dir, "DOMINION_API_TOKEN": self.token})
        env.update(self.env)
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [self.binary, "serve", "--addr", "127.0.0.1:0", *self.args],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir,
            )
        try:
            self.url = "http://" + self._wait_for_addr()
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _deadline_passed(self, deadline: float, what: str) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"dominion serve exited with {self._proc.returncode} {what}:\n{self.log()[-4000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"dominion serve not ready after {self.startup_timeout:g} s ({what}):\n{self.log()[-4000:]}")

    def _wait_for_addr(self) -> str:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.005
        while True:
            m = _ADDR.search(self.log())
            if m:
                return m.group(1)
            self._deadline_passed(deadline, "before logging its address")
            time.sleep(delay)  # polling the log file with a deadline
            delay = min(delay * 2, 0.1)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.005
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            self._deadline_passed(deadline, "waiting for /healthz")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server gracefully (SIGTERM), killing it after ``timeout`` seconds."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
