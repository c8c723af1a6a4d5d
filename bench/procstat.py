"""What /proc says about a process and the machine: CPU time, resident memory, the hardware."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_seconds(path: str) -> float:
    with open(path) as stat:
        # the command name may hold spaces and parentheses; the fields after the last ')' are fixed
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime and stime: fields 14 and 15 of the whole line


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process (all its threads) so far, in seconds."""
    return _stat_seconds(f"/proc/{pid}/stat")


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of the process's first thread alone: in the app, the thread that runs the event loop (every
    socket, emit and view); the rest of the process's CPU is its other threads (the storage threads' boto3)."""
    return _stat_seconds(f"/proc/{pid}/task/{pid}/stat")


def _command_lines() -> list[tuple[int, list[str]]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # the process ended meanwhile, or is not ours to read
        found.append((int(entry.name), [w for w in words if w]))
    return found


def service_pid(marker: str) -> int | None:
    """The pid of a local service (e.g. DynamoDB Local) by a marker in its command line."""
    return next((pid for pid, words in _command_lines() if marker in " ".join(words)), None)


def redis_server_pid(url: str) -> int | None:
    """The pid of the local redis-server that ``url`` names: the one on its port, not the first one found (a
    machine often runs a system Redis beside the test one, or several cluster nodes)."""
    address = f":{urlsplit(url).port or 6379}"
    for pid, words in _command_lines():
        # redis-server shows its address in its process title: "redis-server 127.0.0.1:7001 [cluster]"
        if (
            words
            and words[0].split("/")[-1].startswith("redis-server")
            and any(w.endswith(address) for w in words[0].split() + words[1:])
        ):
            return pid
    return None


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


@dataclass(frozen=True, slots=True)
class SystemCpu:
    """Jiffies of the whole machine, to tell how busy everything else was during a window."""

    busy: int
    total: int

    @classmethod
    def read(cls) -> SystemCpu:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle and iowait
        total = sum(values[:8])  # guest time is already counted in user
        return cls(busy=total - idle, total=total)

    def busy_seconds_since(self, earlier: SystemCpu) -> float:
        return (self.busy - earlier.busy) / _TICKS


def machine() -> dict[str, object]:
    """A description of the machine the numbers come from."""
    models: list[str] = []
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                models.append(line.split(":", 1)[1].strip())
    with open("/proc/meminfo") as meminfo:
        memory = {k: v.strip() for k, v in (line.split(":", 1) for line in meminfo)}
    try:
        free = subprocess.run(["free", "-m"], capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        free = ""
    return {
        "cpu_model": models[0] if models else platform.processor(),
        "cpus": os.cpu_count(),
        "memory_total": memory.get("MemTotal", ""),
        "free_m": free,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
