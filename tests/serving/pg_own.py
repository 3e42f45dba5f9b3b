"""A PostgreSQL server of a test's own (initdb in a temp folder), for what the shared one must not
suffer: being stopped, frozen with SIGSTOP, or killed.

Runs the Debian server binaries (/usr/lib/postgresql/<v>/bin, or PG_BIN). PostgreSQL refuses to
run as root, so under root the server runs as the ``postgres`` user in a folder it owns. The
freeze is SIGSTOP to the postmaster and every backend (what a hung host or storage looks like to a
client: connections stay open, the kernel still acknowledges TCP, nothing answers); thaw is SIGCONT.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_bin() -> Path | None:
    env = os.environ.get("PG_BIN")
    candidates = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnPostgres:
    def __init__(self) -> None:
        self.bin = find_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found (set PG_BIN)")
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pwd.getpwnam(self.user)  # KeyError when there is no such user
        self.dir = Path(tempfile.mkdtemp(prefix="triage-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run_as(self) -> dict:
        return {"user": self.user} if self.user else {}

    def start(self) -> "OwnPostgres":
        if self.user:
            shutil.chown(self.dir, self.user)
        data = self.dir / "data"
        subprocess.run([str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
                        "-E", "UTF8", "--locale=C"], check=True, capture_output=True, cwd=self.dir, **self._run_as())
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
             "-c", "synchronous_commit=on", "-c", "max_connections=50"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir, start_new_session=True,
            **self._run_as(),
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                    raise
                time.sleep(0.1)

    def processes(self) -> list[int]:
        """The postmaster and its children (each backend is its own process group: setsid)."""
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:  # ppid
                children.append(int(Path(stat).parent.name))
        return [self.proc.pid, *children]

    def freeze(self) -> None:
        """SIGSTOP the postmaster first (no new backends), then every backend."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        for pid in self.processes()[1:]:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.processes()):
            os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.thaw()
                self.proc.send_signal(signal.SIGINT)  # fast shutdown
                self.proc.wait(15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
