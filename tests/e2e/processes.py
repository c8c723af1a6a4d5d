"""The app and nginx as child processes, started the way a person starts them, and stopped without leftovers.

Every child gets a marker in its environment. Environments are inherited, so the marker finds every descendant
(QtWebEngine helpers, nginx workers) even after it was re-parented to init: that is how "no orphans" is checked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.helpers import free_port, port_open, stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]
NGINX_DIR = REPO / "scripts" / "nginx"
MARKER = "SINCHCHAT_E2E_PROCESS"


def marked_pids(marker: str) -> list[int]:
    """Live processes (not zombies) whose environment carries ``MARKER=marker``."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


class Child:
    """A child process in its own session, with its output in a log file."""

    def __init__(self, *, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, cwd: Path = REPO) -> None:
        self.name = name
        self.marker = f"{name}-{uuid.uuid4().hex[:8]}"
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**env, MARKER: self.marker},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal running pytest is not also sent to the child
        )
        self.stopped_by: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, first: signal.Signals = signal.SIGINT, *, grace: float = 15.0, check: bool = True) -> int:
        """Send ``first``, wait; TERM then KILL only if needed (``stopped_by`` tells which one worked).

        Descendants still alive afterwards are killed, and with ``check`` that fails the test.
        """
        try:
            stopped_by = stop_process(self.process, first, grace=grace)
            self.stopped_by = stopped_by.name if stopped_by is not None else None
            code = self.process.wait()
        finally:
            self._log.close()
        # nothing it started may outlive it; KILL what is left so one bad run does not leak into the next
        leftovers = marked_pids(self.marker)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not (check and leftovers), f"{self.name} left processes behind: {leftovers}"
        return code


class AppProcess(Child):
    """``python main.py`` with the given CHAT_* settings; ``base_url`` is ready once ``wait_ready`` returned."""

    def __init__(self, *, name: str, env: Mapping[str, str], log_dir: Path, args: tuple[str, ...] = ()) -> None:
        self.env = dict(env)
        self.args = args
        self.port = int(env["CHAT_PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__(name=name, argv=[sys.executable, "main.py", *args], env=env, log_dir=log_dir)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/api/ready", timeout=3).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} was not ready (/api/ready) in {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def error_lines(self) -> list[str]:
        """Lines the app logged at ERROR level (a test that caused one should say so)."""
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if " ERROR " in line]

    def stop_cleanly(self) -> None:
        """SIGINT, as Ctrl-C in a terminal: the app must shut down by itself, within the grace time.

        uvicorn shuts down gracefully, then raises the signal again so that the exit status tells it was
        interrupted: the process ends killed by SIGINT, or exits with 130 if main.py catches that, or with 0.
        """
        code = self.stop(signal.SIGINT)
        assert self.stopped_by == "SIGINT", f"{self.name} ignored SIGINT (stopped by {self.stopped_by})"
        interrupted = (0, 128 + signal.SIGINT, -signal.SIGINT)
        assert code in interrupted, f"{self.name} exited with {code} after SIGINT:\n{self.log_tail()}"


def render_nginx(*, directory: Path, listen: int, upstream_ports: list[int]) -> Path:
    """Write nginx.conf and sinchchat.conf (from the repo's template) into ``directory``; return nginx.conf."""
    template = (NGINX_DIR / "sinchchat.conf.template").read_text()
    upstreams = " ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in upstream_ports)
    site = template.replace("${SC_LISTEN}", f"127.0.0.1:{listen}").replace("${SC_UPSTREAMS}", upstreams)
    assert "${SC_" not in site, "the template has a placeholder this renderer does not know"
    (directory / "temp").mkdir(parents=True, exist_ok=True)
    (directory / "sinchchat.conf").write_text(site)
    main = directory / "nginx.conf"
    main.write_text((NGINX_DIR / "nginx.conf").read_text())
    return main


class NginxProcess(Child):
    """A private nginx in the foreground, configured from the repo's files; its access log names the upstream."""

    def __init__(self, *, directory: Path, upstream_ports: list[int], log_dir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.directory = directory
        conf = render_nginx(directory=directory, listen=self.port, upstream_ports=upstream_ports)
        argv = ["nginx", "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")]
        argv += ["-g", "daemon off;"]
        super().__init__(name="nginx", argv=argv, env=dict(os.environ), log_dir=log_dir)

    def wait_ready(self, timeout: float = 15.0) -> None:
        def listening() -> bool:
            if not self.alive():
                error_log = (self.directory / "error.log").read_text(errors="replace")
                raise AssertionError(f"nginx exited with {self.process.returncode}:\n{self.log_tail()}\n{error_log}")
            return port_open(self.port)

        wait_until(listening, timeout=timeout, what="nginx to listen")

    def access_log(self) -> list[dict[str, str]]:
        """The access log's lines as dicts (see log_format sinchchat_route in scripts/nginx/nginx.conf)."""
        path = self.directory / "access.log"
        if not path.exists():
            return []
        entries = []
        for line in path.read_text().splitlines():
            fields = dict(part.split("=", 1) for part in line.split("\t") if "=" in part)
            entries.append(fields)
        return entries

    def stop_cleanly(self) -> None:
        code = self.stop(signal.SIGTERM, grace=10.0)  # fast shutdown: a graceful one would wait for open websockets
        assert code == 0, f"nginx exited with {code}:\n{self.log_tail()}"
