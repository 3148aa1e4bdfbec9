"""A Flink session cluster on loopback for newsbeam, with Beam's Flink job server and a pool
of Python SDK workers: ``up``, ``down``, ``status``, and ``kill-tm`` / ``start-tm`` for the
lost-worker test.

    python deploy/flink/cluster.py up        # idempotent; waits until both TaskManagers are in
    python deploy/flink/cluster.py down      # idempotent; stops whatever is still running

Processes (each a process of its own, pid in ``$NEWSBEAM_FLINK_DIR/pids``, log in
``$NEWSBEAM_FLINK_DIR/logs``):

- one JobManager and ``--taskmanagers`` TaskManagers (``--slots`` slots each), Flink
  ``FLINK_VERSION`` started as Flink's own scripts start them (the JVM and memory options
  come from Flink's ``BashJavaUtils``), every port on 127.0.0.1;
- Beam's Flink job server (``FlinkJobServerDriver``) for that Flink, at ``BEAM_JAVA_VERSION``;
- a Python SDK worker pool (``worker_pool.py`` here: Beam's ``worker_pool_main`` with workers
  told apart per TaskManager; see its docstring) from the Flink
  virtualenv, which starts one SDK worker process per TaskManager slot asking for one
  (``--environment_type=EXTERNAL``): no Docker here, and the PROCESS environment would need
  Beam's Go boot loader and a pip install of the artifacts on every worker start.

Downloads (cached in ``$NEWSBEAM_CACHE``, default ``~/.cache/newsbeam``; a second ``up``
reuses them): the Flink distribution's jars from PyPI's ``apache-flink-libraries`` sdist
(Maven Central has no ``flink-dist``), and the job server's classpath from Maven Central
with ``mvn dependency:copy-dependencies`` over ``deploy/flink/pom.xml``.

Versions: Beam 2.77's Flink job server is not on the Maven mirror these machines reach;
the newest Beam release whose Flink runner and job-service jars both resolve there is
2.62.0 (Flink 1.19). The job server and the Python SDK that submits to it and runs in the
workers must be the same release, so the Flink virtualenv (``make flink-venv``) has
apache-beam 2.62.0 and everything else at the project's pins.

Ports (environment, defaults): FLINK_REST_PORT 8081, FLINK_RPC_PORT 6123, BEAM_JOB_PORT 8099,
BEAM_ARTIFACT_PORT 8098, BEAM_EXPANSION_PORT 8097, BEAM_WORKER_POOL_PORT 50000.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FLINK_VERSION = "1.19.3"
BEAM_JAVA_VERSION = "2.62.0"
HOST = "127.0.0.1"

CACHE = Path(os.environ.get("NEWSBEAM_CACHE", Path.home() / ".cache" / "newsbeam"))
FLINK_HOME = CACHE / f"flink-{FLINK_VERSION}"
JOB_SERVER_LIB = CACHE / f"beam-flink-1.19-job-server-{BEAM_JAVA_VERSION}"
STATE = Path(os.environ.get("NEWSBEAM_FLINK_DIR", ROOT / ".flink"))
CONF, LOGS, PIDS = STATE / "conf", STATE / "logs", STATE / "pids"
FLINK_VENV = Path(os.environ.get("NEWSBEAM_FLINK_VENV", ROOT / ".venv-flink"))


def port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


REST_PORT = port("FLINK_REST_PORT", 8081)
RPC_PORT = port("FLINK_RPC_PORT", 6123)
JOB_PORT = port("BEAM_JOB_PORT", 8099)
ARTIFACT_PORT = port("BEAM_ARTIFACT_PORT", 8098)
EXPANSION_PORT = port("BEAM_EXPANSION_PORT", 8097)
POOL_PORT = port("BEAM_WORKER_POOL_PORT", 50000)


def log(msg: str) -> None:
    print(f"flink: {msg}", flush=True)


# -- downloads -----------------------------------------------------------------------------

def ensure_flink() -> Path:
    """Flink's lib/ (and BashJavaUtils) from PyPI's apache-flink-libraries sdist, cached."""
    if (FLINK_HOME / "lib" / f"flink-dist-{FLINK_VERSION}.jar").exists():
        return FLINK_HOME
    downloads = CACHE / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    sdist = downloads / f"apache-flink-libraries-{FLINK_VERSION}.tar.gz"
    if not sdist.exists():
        log(f"downloading apache-flink-libraries {FLINK_VERSION} from PyPI (~230 MB, cached) ...")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"apache-flink-libraries=={FLINK_VERSION}", "-d", str(downloads)], check=True)
    staging = FLINK_HOME.with_name(FLINK_HOME.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    prefix = f"apache-flink-libraries-{FLINK_VERSION}/deps/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()
                   and m.name[len(prefix):].split("/")[0] in ("lib", "bin", "plugins")]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(staging, members=members, filter="data")
    shutil.rmtree(FLINK_HOME, ignore_errors=True)
    staging.rename(FLINK_HOME)
    return FLINK_HOME


def ensure_job_server() -> Path:
    """The job server's jars (Beam's Flink runner and its dependencies) from Maven Central."""
    if (JOB_SERVER_LIB / ".complete").exists():
        return JOB_SERVER_LIB
    log(f"resolving Beam {BEAM_JAVA_VERSION}'s Flink job server with Maven (~150 MB, cached in ~/.m2) ...")
    shutil.rmtree(JOB_SERVER_LIB, ignore_errors=True)
    subprocess.run(["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
                    f"-Dbeam.version={BEAM_JAVA_VERSION}", f"-DoutputDirectory={JOB_SERVER_LIB}"], check=True)
    (JOB_SERVER_LIB / ".complete").touch()
    return JOB_SERVER_LIB


def requirements() -> list[str]:
    """setup.py's runtime requirements with apache-beam at the job server's release."""
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    requires = next(ast.literal_eval(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                    and any(getattr(t, "id", None) == "REQUIRES" for t in node.targets))
    return [f"apache-beam=={BEAM_JAVA_VERSION}" if r.startswith("apache-beam") else r for r in requires]


# -- processes -----------------------------------------------------------------------------

def _pid(name: str) -> int | None:
    try:
        pid = int((PIDS / name).read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _start(name: str, cmd: list[str], env: dict | None = None) -> int:
    PIDS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    out = open(LOGS / f"{name}.out", "ab")
    # A session of its own: the cluster outlives the make (or pytest) that started it.
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env, cwd=STATE)
    (PIDS / name).write_text(str(proc.pid))
    return proc.pid


def _stop(name: str, sig: int = signal.SIGTERM, wait: float = 20.0) -> bool:
    pid = _pid(name)
    if pid is None:
        (PIDS / name).unlink(missing_ok=True)
        return False
    os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _pid(name) is not None:
        time.sleep(0.2)
    if _pid(name) is not None:
        os.kill(pid, signal.SIGKILL)
        while _pid(name) is not None:
            time.sleep(0.1)
    (PIDS / name).unlink(missing_ok=True)
    return True


def _listening(p: int) -> bool:
    try:
        socket.create_connection((HOST, p), timeout=1).close()
        return True
    except OSError:
        return False


def _wait(what: str, check, name: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if _pid(name) is None:
            tail = (LOGS / f"{name}.out").read_text(errors="replace")[-2000:] if (LOGS / f"{name}.out").exists() else ""
            raise SystemExit(f"flink: {name} exited before {what}; see {LOGS}\n{tail}")
        if time.monotonic() > deadline:
            raise SystemExit(f"flink: timed out waiting for {what}; see {LOGS}")
        time.sleep(0.5)


def rest(path: str) -> dict:
    with urllib.request.urlopen(f"http://{HOST}:{REST_PORT}{path}", timeout=5) as r:
        return json.load(r)


def _rest_ok() -> bool:
    try:
        rest("/overview")
        return True
    except OSError:
        return False


def taskmanagers() -> int:
    try:
        return len(rest("/taskmanagers")["taskmanagers"])
    except OSError:
        return 0


def submit_options(parallelism: int = 2, streaming: bool = True, checkpoint_ms: int | None = None) -> list[str]:
    """Pipeline options that submit a newsbeam run (or stream) to this cluster.

    ``--streaming`` goes with bounded runs too: in Flink's batch (DataSet) mode every task
    opens and closes an SDK environment of its own, and a run of the 181 pages hung for
    good three times in three (a TaskManager "still waiting for startup of environment";
    ``--execution_mode_for_batch=BATCH_FORCED`` did not help). In streaming mode the tasks
    live for the whole job, and a bounded job still ends when its input does.
    ``--environment_cache_millis`` keeps one SDK worker per TaskManager for the job.
    ``--object_reuse`` lets Flink hand an element to the next chained operator without a
    serialised copy (Beam's model already forbids a DoFn to change its input), and
    ``--max_bundle_size=5000`` (Beam's default 1,000; bundles still end after 1 s) sends
    fewer, larger bundles to the SDK workers. Together they took the TaskManagers' CPU on the
    1,200-article benchmark job from ~19 s to ~15 s: on two cores that CPU is taken from the
    SDK workers (benchmarks/flink.py records it per role).
    ``newsbeam stream`` sets ``--streaming`` itself (``streaming=False`` leaves it out).

    ``checkpoint_ms`` turns checkpoints on, and with them ``--shutdown_sources_after_idle_ms``:
    with checkpoints on, Beam's Flink runner otherwise keeps every finished source running
    idle for ever (its default is "never" then), and an idle Impulse never sends its final
    watermark. The stream reads its state files from Impulses and joins them with the feed
    items, so no window downstream of a join ever closed: feeds were polled, no page was
    ever fetched. Flink 1.19 checkpoints jobs whose sources have finished.
    """
    checkpoints = ([f"--checkpointing_interval={checkpoint_ms}", "--shutdown_sources_after_idle_ms=1000"]
                   if checkpoint_ms else [])
    return ["--runner=PortableRunner", f"--job_endpoint=localhost:{JOB_PORT}",
            "--environment_type=EXTERNAL", f"--environment_config=localhost:{POOL_PORT}",
            f"--parallelism={parallelism}", "--environment_cache_millis=600000",
            "--object_reuse", "--max_bundle_size=5000",
            *(["--streaming"] if streaming else []), *checkpoints]


def not_ready(n_taskmanagers: int = 2) -> str | None:
    """Why the cluster cannot take a job now, or None when it can."""
    python = FLINK_VENV / "bin" / "python"
    if not python.exists():
        return f"no {python} (make flink-venv)"
    if taskmanagers() < n_taskmanagers:
        return f"no Flink cluster with {n_taskmanagers} TaskManagers at {HOST}:{REST_PORT} (make flink-up)"
    if not (_listening(JOB_PORT) and _listening(POOL_PORT)):
        return "the Flink job server or the SDK worker pool is down (make flink-up)"
    return None


def cancel_jobs() -> list[str]:
    """Cancels every running job (a launcher killed mid-stream leaves its job running)."""
    running = [j["jid"] for j in rest("/jobs/overview")["jobs"] if j["state"] in ("RUNNING", "RESTARTING", "CREATED")]
    for jid in running:
        urllib.request.urlopen(urllib.request.Request(f"http://{HOST}:{REST_PORT}/jobs/{jid}?mode=cancel",
                                                      method="PATCH"), timeout=10).close()
    return running


def write_conf(slots: int) -> None:
    CONF.mkdir(parents=True, exist_ok=True)
    checkpoints = STATE / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    settings = {
        "jobmanager.rpc.address": HOST, "jobmanager.rpc.port": RPC_PORT, "jobmanager.bind-host": HOST,
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.host": HOST, "taskmanager.bind-host": HOST, "taskmanager.numberOfTaskSlots": slots,
        # The Python work runs in SDK worker processes, outside these JVMs. Network memory is
        # set, not derived: a batch run of the whole pipeline opens hundreds of exchanges at
        # once, and the derived default (~100 MB) failed its tasks with "Insufficient number
        # of network buffers".
        # Heap: each job leaves some of its classes and caches behind in a TaskManager (a
        # 2048m TaskManager, ~460 MB of heap, ended in back-to-back full GCs and a missed
        # heartbeat after a dozen large jobs); 3072m with little managed memory (it is for
        # RocksDB and batch sorting; state here is on the heap) gives ~1.3 GB.
        "taskmanager.memory.process.size": "3072m", "taskmanager.memory.jvm-metaspace.size": "512m",
        "taskmanager.memory.managed.fraction": 0.1,
        "taskmanager.memory.network.min": "384m", "taskmanager.memory.network.max": "384m",
        "taskmanager.rpc.port": 0, "taskmanager.data.port": 0, "blob.server.port": 0,
        "rest.address": HOST, "rest.bind-address": HOST, "rest.port": REST_PORT,
        "state.checkpoints.dir": checkpoints.as_uri(),
        # Each job ships the job server's whole classpath (~150 MB) to every TaskManager; by
        # default those copies stay in /tmp for an hour after the job (9 GB per TaskManager
        # after an afternoon of tests, and a TaskManager start that spends a minute deleting
        # them). Here they live under the cluster's folder, go a minute after their job, and
        # `down` removes the folder.
        "blob.storage.directory": str(STATE / "blobs"), "blob.service.cleanup.interval": 60,
        # A lost TaskManager is noticed in seconds, not the default minutes.
        "heartbeat.interval": 2000, "heartbeat.timeout": 10000,
        # Restarts keep trying for a minute: after a lost TaskManager the job cannot run
        # until a new one has registered its slot (~15 s here), and with 5 tries 3 s apart
        # the job had failed for good before that.
        "restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": 20,
        "restart-strategy.fixed-delay.delay": "3 s",
    }
    (CONF / "config.yaml").write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
    (CONF / "log4j.properties").write_text(
        "rootLogger.level = INFO\nrootLogger.appenderRef.file.ref = File\n"
        "appender.file.name = File\nappender.file.type = File\nappender.file.append = true\n"
        "appender.file.fileName = ${sys:log.file}\nappender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %c - %m%n\n")


def _java_params(kind: str) -> tuple[list[str], list[str]]:
    """(JVM options, -D dynamic properties) as Flink's own start scripts compute them."""
    home = ensure_flink()
    out = subprocess.run(["java", "-cp", f"{home}/bin/bash-java-utils.jar:{home}/lib/*",
                          "org.apache.flink.runtime.util.bash.BashJavaUtils", kind, "--configDir", str(CONF)],
                         check=True, capture_output=True, text=True).stdout
    lines = [ln.split(":", 1)[1] for ln in out.splitlines() if ln.startswith("BASH_JAVA_UTILS_EXEC_RESULT:")]
    return lines[0].split(), lines[1].split()


# What Flink's own config.yaml passes to every JVM on Java 17 (Kryo and Beam's coders reach
# into java.util and friends; without these a job fails with InaccessibleObjectException).
JAVA17_OPENS = [f"--add-opens=java.base/{pkg}=ALL-UNNAMED" for pkg in (
    "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect", "java.text", "java.time",
    "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "java.util.concurrent.locks")] + [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED", "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED"]


# Every job brings its own copy of Beam's runner (a fresh classloader per job), so the JVMs
# compile the same code again for each job. On two cores the optimising JIT (C2) then costs
# more CPU than it gives back in a job of a minute: with C1 only, the TaskManagers used 13 s
# of CPU instead of 21 s on the same 800-article job (and C2's threads were the busiest
# threads of an idle-looking TaskManager).
JIT = ["-XX:TieredStopAtLevel=1"]


def _flink_cmd(name: str, main: str, kind: str, *extra: str) -> list[str]:
    jvm, dynamic = _java_params(kind)
    return ["java", *jvm, *JAVA17_OPENS, *JIT, f"-Dlog.file={LOGS / (name + '.log')}",
            f"-Dlog4j.configurationFile={(CONF / 'log4j.properties').as_uri()}",
            "-cp", f"{FLINK_HOME}/lib/*", main, "--configDir", str(CONF), *dynamic, *extra]


def start_taskmanager(n: int) -> None:
    name = f"taskmanager-{n}"
    if _pid(name) is None:
        _start(name, _flink_cmd(name, "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
                                "GET_TM_RESOURCE_PARAMS", "-D", f"taskmanager.resource-id=tm-{n}"))


def up(n_taskmanagers: int, slots: int) -> None:
    ensure_flink()
    lib = ensure_job_server()
    python = FLINK_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"flink: no {python}: `make flink-venv` builds the SDK workers' virtualenv")
    write_conf(slots)
    if _pid("jobmanager") is None:
        _start("jobmanager", _flink_cmd("jobmanager", "org.apache.flink.runtime.entrypoint."
                                        "StandaloneSessionClusterEntrypoint", "GET_JM_RESOURCE_PARAMS"))
    _wait(f"the REST API on {HOST}:{REST_PORT}", _rest_ok, "jobmanager")
    for n in range(1, n_taskmanagers + 1):
        start_taskmanager(n)
    _wait(f"{n_taskmanagers} TaskManagers", lambda: taskmanagers() >= n_taskmanagers, "jobmanager")
    if _pid("jobserver") is None:
        _start("jobserver", ["java", "-Xmx512m", *JAVA17_OPENS, *JIT, "-cp", f"{lib}/*",
                             "org.apache.beam.runners.flink.FlinkJobServerDriver", f"--flink-master={HOST}:{REST_PORT}",
                             f"--job-host={HOST}", f"--job-port={JOB_PORT}", f"--artifact-port={ARTIFACT_PORT}",
                             f"--expansion-port={EXPANSION_PORT}"])
    _wait(f"the job server on {HOST}:{JOB_PORT}", lambda: _listening(JOB_PORT), "jobserver")
    if _pid("workerpool") is None:
        # The pool starts each worker as `python -c ...`: the Flink virtualenv's, first on PATH.
        # A worker that dies in native code leaves its Python stack in workerpool.out.
        env = dict(os.environ, PATH=f"{FLINK_VENV / 'bin'}:{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT),
                   PYTHONFAULTHANDLER="1")
        _start("workerpool", [str(python), str(HERE / "worker_pool.py"), f"--service_port={POOL_PORT}"], env=env)
    _wait(f"the SDK worker pool on {HOST}:{POOL_PORT}", lambda: _listening(POOL_PORT), "workerpool")
    status()


def down() -> None:
    tms = sorted(p.name for p in PIDS.glob("taskmanager-*"))  # none when PIDS is absent
    stopped = [name for name in ("workerpool", "jobserver", *tms, "jobmanager") if _stop(name)]
    shutil.rmtree(STATE / "blobs", ignore_errors=True)
    log(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


def status() -> int:
    running = {p.name: _pid(p.name) for p in sorted(PIDS.glob("*"))} if PIDS.exists() else {}
    if _rest_ok():
        overview = rest("/overview")
        log(f"Flink {overview['flink-version']} at http://{HOST}:{REST_PORT}: {overview['taskmanagers']} TaskManagers, "
            f"{overview['slots-total']} slots ({overview['slots-available']} free), "
            f"{overview['jobs-running']} jobs running")
    else:
        log(f"no Flink REST API at {HOST}:{REST_PORT}")
    for name, pid in running.items():
        log(f"  {name}: {'pid ' + str(pid) if pid else 'not running'}")
    log(f"  job server {HOST}:{JOB_PORT} {'up' if _listening(JOB_PORT) else 'down'}; "
        f"SDK worker pool {HOST}:{POOL_PORT} {'up' if _listening(POOL_PORT) else 'down'}; logs in {LOGS}")
    return 0 if _rest_ok() and _listening(JOB_PORT) and _listening(POOL_PORT) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/flink/cluster.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start whatever is not running; wait until all is ready")
    start.add_argument("--taskmanagers", type=int, default=2)
    start.add_argument("--slots", type=int, default=1, help="slots per TaskManager")
    sub.add_parser("down", help="stop everything (SIGTERM, then SIGKILL)")
    sub.add_parser("status")
    kill = sub.add_parser("kill-tm", help="SIGKILL one TaskManager (a lost worker)")
    kill.add_argument("n", type=int)
    again = sub.add_parser("start-tm", help="start one TaskManager")
    again.add_argument("n", type=int)
    sub.add_parser("prepare", help="only download Flink and the job server (cached)")
    sub.add_parser("cancel-jobs", help="cancel every running job")
    sub.add_parser("requirements", help="print the Flink virtualenv's requirements (setup.py's, Beam pinned)")
    args = parser.parse_args(argv)
    if args.command == "up":
        up(args.taskmanagers, args.slots)
    elif args.command == "down":
        down()
    elif args.command == "status":
        return status()
    elif args.command == "kill-tm":
        _stop(f"taskmanager-{args.n}", signal.SIGKILL, wait=10)
    elif args.command == "start-tm":
        start_taskmanager(args.n)
    elif args.command == "cancel-jobs":
        log(f"cancelled {', '.join(cancel_jobs()) or 'nothing'}")
    elif args.command == "requirements":
        print("\n".join(requirements()))
    elif args.command == "prepare":
        ensure_flink()
        ensure_job_server()
    return 0


if __name__ == "__main__":
    sys.exit(main())
