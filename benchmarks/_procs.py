"""Measuring a child command as a user sees it: wall time, the peak memory of its whole
process tree (the runner's SDK workers are processes of their own, so the child's own
max RSS would miss them), and the CPU time that tree used."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import NamedTuple, Optional

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


class Measured(NamedTuple):
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb_by_process: dict  # "pid command" -> that process's own peak (MB)
    cpu_seconds: float  # user + system time of every process of the tree, as last sampled
    cpu_seconds_by_process: dict  # "pid command" -> that process's own CPU seconds
    alone_seconds: float  # until a second process of the tree was first seen (less one interval)


def cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU seconds ``pid`` has used itself (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15 of stat(5)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss(pid: int) -> dict[int, int]:
    """Resident bytes of ``pid`` and of each of its descendants now."""
    tree, found, todo = _children(), {}, [pid]
    while todo:
        p = todo.pop()
        try:
            found[p] = int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(tree.get(p, ()))
    return found


def _label(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    module = args[args.index(b"-m") + 1].decode() if b"-m" in args else Path(args[0].decode() or "?").name
    return f"{pid} {module}"


def measure(cmd: list[str], cwd: Optional[Path] = None, timeout: float = 7200, env: Optional[dict] = None,
            interval: float = 0.25) -> Measured:
    """Runs ``cmd``; samples its process tree's summed RSS and each process's CPU time every
    ``interval`` seconds. A process's CPU is its last sample, so up to ``interval`` of each
    process's last moments is missed (a process that lived less than that is not seen)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, by_process, cpu, done = [0], {}, {}, threading.Event()
    alone = [None]

    def sample() -> None:
        while not done.is_set():
            now = tree_rss(proc.pid)
            if alone[0] is None and len(now) > 1:
                alone[0] = max(0.0, time.perf_counter() - start - interval)
            peak[0] = max(peak[0], sum(now.values()))
            for pid, rss in now.items():
                used = cpu_seconds(pid)
                if used is not None:
                    cpu[pid] = (cpu.get(pid, (None,))[0] or _label(pid), used)
                if rss > 16 * 2**20:  # shells and the like left out
                    label = by_process.get(pid, (None, 0))[0] or _label(pid)
                    by_process[pid] = (label, max(rss, by_process.get(pid, (None, 0))[1]))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    return Measured(time.perf_counter() - start, peak[0] / 2**20, proc.returncode, out, err,
                    {label: round(rss / 2**20, 1) for label, rss in by_process.values()},
                    round(sum(used for _, used in cpu.values()), 2),
                    {label: round(used, 2) for label, used in cpu.values() if used >= 0.1},
                    round(time.perf_counter() - start if alone[0] is None else alone[0], 2))
