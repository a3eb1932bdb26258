"""docs/migrating-from-rq.md, run: every block in document order against a real dominion serve.

- ``yaml`` blocks whose first line names a file (``# workflows.yaml``) are the server's
  DOMINION_WORKFLOWS, DOMINION_SCHEDULES and DOMINION_HANDLERS;
- ``python`` blocks run in one namespace, with DOMINION_URL and DOMINION_API_TOKEN set;
- ``sh`` blocks run with bash -e, the built dominion first on PATH and the server's environment;
- ``sh long-running`` commands are started, must log that they started, and must exit 0 on
  SIGTERM;
- ``python rq`` blocks are the seed's RQ code, shown for comparison: not run.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
from typing import Dict, Iterator, List

import pytest

import pathlib
from docblocks import Block, blocks
from dominion import verify_signature
from dominion.testing import DominionServer

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "migrating-from-rq.md"
FILES = {"workflows.yaml": "DOMINION_WORKFLOWS", "schedules.yaml": "DOMINION_SCHEDULES",
         "handlers.yaml": "DOMINION_HANDLERS"}
SECRET = "doc-test-secret"


class Receiver(http.server.ThreadingHTTPServer):
    """The endpoint the doc's http step calls: it checks the signature."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: List[Dict[str, object]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = verify_signature(SECRET, body, self.headers.get("X-Dominion-Signature"))
        with self.server.lock:
            self.server.requests.append({"path": self.path, "verified": ok})
        answer = json.dumps({"ok": ok}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    t = threading.Thread(target=r.serve_forever, daemon=True)
    t.start()
    yield r
    r.shutdown()
    r.server_close()


@pytest.fixture(scope="module")
def doc_blocks() -> List[Block]:
    return blocks(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def doc_env(receiver: Receiver) -> Dict[str, str]:
    """The variables the doc's files and commands refer to."""
    return {"CRM_URL": receiver.url + "/crm", "CRM_WEBHOOK_SECRET": SECRET}


@pytest.fixture(scope="module")
def doc_server(dominion_bin: str, doc_blocks: List[Block], doc_env: Dict[str, str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[DominionServer]:
    env = dict(doc_env)
    files = tmp_path_factory.mktemp("doc-files")
    for b in doc_blocks:
        name = b.text.splitlines()[0].lstrip("# ").strip() if b.lang == "yaml" else ""
        if name in FILES:
            (files / name).write_text(b.text, encoding="utf-8")
            env[FILES[name]] = str(files / name)
    assert set(FILES.values()) <= set(env), "the doc lost one of its YAML files"
    with DominionServer(dominion_bin, token="doc-token", env=env) as s:
        yield s


def shell_env(server: DominionServer, dominion_bin: str, extra: Dict[str, str]) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(server.env)
    env.update(extra)
    env.update({"DOMINION_URL": server.url, "DOMINION_API_TOKEN": server.token,
                "DOMINION_DATA_DIR": server.data_dir,
                "PATH": os.path.dirname(os.path.abspath(dominion_bin)) + os.pathsep + env.get("PATH", "")})
    for name in ("REDIS_URL", "DATABASE_URL"):
        env.pop(name, None)
    return env


def run_long_running(command: str, env: Dict[str, str], where: str) -> None:
    """Start the command, wait until it logs that it started, stop it with SIGTERM: exit 0."""
    proc = subprocess.Popen(["bash", "-c", "exec " + command], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: List[str] = []
    started = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "started" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(60), f"{where}: did not log that it started:\n{''.join(lines)}"
    finally:
        proc.terminate()
        code = proc.wait(60)
        reader.join(10)
    assert code == 0, f"{where}: exited {code} on SIGTERM:\n{''.join(lines)}"


def test_every_block_of_the_guide_runs(doc_server: DominionServer, doc_blocks: List[Block], dominion_bin: str,
                                       doc_env: Dict[str, str], receiver: Receiver,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMINION_URL", doc_server.url)
    monkeypatch.setenv("DOMINION_API_TOKEN", doc_server.token)
    env = shell_env(doc_server, dominion_bin, doc_env)
    namespace: Dict[str, object] = {"__name__": "migrating_doc"}
    ran = 0
    for b in doc_blocks:
        where = f"{DOC.name}: {b.describe()}"
        if b.lang == "python" and not b.tags:
            exec(compile(b.text, f"{DOC.name}:{b.line}", "exec"), namespace)  # noqa: S102
        elif b.lang == "sh" and not b.tags:
            res = subprocess.run(["bash", "-euo", "pipefail", "-c", b.text], env=env, capture_output=True,
                                 text=True, timeout=120)
            assert res.returncode == 0, f"{where}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
        elif b.lang == "sh" and b.tags == ["long-running"]:
            for command in filter(None, (c.strip() for c in b.text.splitlines())):
                run_long_running(command, env, where)
        elif b.lang == "yaml" or b.tags == ["rq"]:
            continue  # given to the server; the seed's RQ code
        else:
            pytest.fail(f"{where}: no rule to run a block of this kind")
        ran += 1
    assert ran >= 10
    # The workflow's http step reached the receiver, signed with the secret.
    with receiver.lock:
        crm = [r for r in receiver.requests if r["path"] == "/crm"]
    assert crm and all(r["verified"] for r in crm)
    # The handler file's job type reached it too, signed with the secret.
    with receiver.lock:
        handled = [r for r in receiver.requests if r["path"] == "/crm/jobs/send_followup_email"]
    assert handled and all(r["verified"] for r in handled)
