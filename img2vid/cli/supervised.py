"""Programs run under supervisord, for ``img2vid up``.

supervisord (the ``supervisor`` package) does what a process manager is for: it runs
each program in a process group of its own, so a terminal's Ctrl-C reaches none of
them; it stops the programs one group at a time in reverse priority order, so Valkey
outlives the workers that need it to hand their jobs back; it sends the stop signal to
each program's main process only, so Celery and gunicorn shut down warmly (Celery's pool
children take SIGTERM's default action and die mid-job if it reaches them too), and
SIGKILLs the whole group when a program outstays its stop time; it writes each
program's log, and it reports every program's state over XML-RPC.

honcho was tried and does not fit: on Ctrl-C it sends SIGTERM to every process group
at once (Valkey was gone 30 ms later, and the worker's hand-back failed with
"Connection refused"), SIGKILLs everything after a fixed 5 s, exits 130 on Ctrl-C,
and runs its loop with its own signal handlers, leaving nowhere to wait for readiness.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

from img2vid.errors import Img2VidError

# The longest a program may take to stop before its process group is SIGKILLed.
STOP_WAIT_SECONDS = 20
# States in which a started program is still doing its work.
_UP_STATES = {"STARTING", "RUNNING"}


class SupervisorError(Img2VidError):
    """Raised when supervisord cannot be started or stops answering."""

    code = "supervisor_failed"


@dataclass
class Program:
    """One command under supervisord. Programs of one ``group`` stop together; groups
    stop in reverse ``priority`` order."""

    name: str
    argv: list[str]
    group: str
    priority: int


def _conf_value(value: object) -> str:
    # supervisord expands %(name)s in every value: a literal % must be doubled.
    return str(value).replace("%", "%%")


_prctl = getattr(ctypes.CDLL(None), "prctl", None)  # Linux only
_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> None:
    """In the child, before exec: SIGTERM this process when its parent dies, so that
    supervisord stops everything in order even if ``img2vid up`` is SIGKILLed."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _last_line(log: Path, limit: int = 200) -> str:
    """The last non-empty line of a log, often the reason a program gave for exiting."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


class Supervisor:
    """A private supervisord running ``programs``, each logging to ``log_dir/NAME.log``."""

    def __init__(self, programs: list[Program], log_dir: Path, env: dict[str, str]) -> None:
        self.programs = programs
        self.log_dir = log_dir
        self.env = env
        # A short private folder: a unix socket's path is limited to ~100 bytes.
        self.run_dir = Path(tempfile.mkdtemp(prefix="img2vid-up-"))
        self.socket = self.run_dir / "supervisor.sock"
        self.popen: subprocess.Popen | None = None
        self.started: set[str] = set()
        self.groups: set[int] = set()  # process groups seen, swept once supervisord is gone

    @property
    def rpc(self):
        """supervisord's XML-RPC interface; a new connection each time, as a failed
        request leaves supervisor's transport unable to send another."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport).supervisor

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def config(self) -> str:
        lines = [
            "[supervisord]",
            "nodaemon=true",
            "silent=true",
            "loglevel=info",
            f"logfile={_conf_value(self.log('supervisord'))}",
            f"pidfile={_conf_value(self.run_dir / 'supervisord.pid')}",
            f"childlogdir={_conf_value(self.run_dir)}",
            "[unix_http_server]",
            f"file={_conf_value(self.socket)}",
            "chmod=0700",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        ]
        for p in self.programs:
            lines += [
                f"[program:{p.name}]",
                f"command={_conf_value(shlex.join(p.argv))}",
                f"directory={_conf_value(os.getcwd())}",
                f"priority={p.priority}",
                # `up` starts each part once the one before answers, and a part that
                # exits stops the whole system, loudly, rather than being restarted.
                "autostart=false",
                "autorestart=false",
                "startsecs=0",
                "startretries=0",
                # TERM to the main process only (a warm shutdown); SIGKILL to the group.
                "stopsignal=TERM",
                "stopasgroup=false",
                "killasgroup=true",
                f"stopwaitsecs={STOP_WAIT_SECONDS}",
                "redirect_stderr=true",
                f"stdout_logfile={_conf_value(self.log(p.name))}",
                "stdout_logfile_maxbytes=50MB",
                "stdout_logfile_backups=3",
            ]
        groups: dict[str, list[Program]] = {}
        for p in self.programs:
            groups.setdefault(p.group, []).append(p)
        for group, members in groups.items():
            lines += [
                f"[group:{group}]",
                f"programs={','.join(p.name for p in members)}",
                f"priority={members[0].priority}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15) -> None:
        from img2vid.cli.processes import wait_until

        conf = self.run_dir / "supervisord.conf"
        conf.write_text(self.config())
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log("supervisord"), "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "--configuration", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                # Its own session: a terminal's Ctrl-C goes to `up` alone, which then
                # stops supervisord once, and supervisord stops the rest in order.
                start_new_session=True,
                preexec_fn=_set_parent_death_signal,
            )
        try:
            wait_until(
                lambda: self.popen.poll() is not None or self.rpc.getState()["statename"] == "RUNNING",
                timeout,
                "supervisord to answer",
            )
        except TimeoutError as exc:
            raise SupervisorError(f"{exc}; see {self.log('supervisord')}") from None
        if self.popen.poll() is not None:
            raise SupervisorError(
                f"supervisord exited with status {self.popen.returncode}; see {self.log('supervisord')}"
            )

    def start_group(self, group: str) -> None:
        """Start every program of ``group`` without waiting; ``failure()`` tells if one dies."""
        names = [p.name for p in self.programs if p.group == group]
        self.started.update(names)
        self.rpc.startProcessGroup(group, False)

    def failure(self, when: str = "") -> str | None:
        """What went wrong, if supervisord or a started program is no longer running;
        ``when`` follows the program's name and what happened to it."""
        if self.popen is None or self.popen.poll() is not None:
            return f"supervisord exited; see {self.log('supervisord')}"
        try:
            infos = self.rpc.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
            return f"supervisord does not answer ({exc}); see {self.log('supervisord')}"
        for info in infos:
            if info["pid"]:
                self.groups.add(info["pid"])  # each program leads its own process group
            name = info["name"]
            if name in self.started and info["statename"] not in _UP_STATES:
                last = _last_line(self.log(name))
                if info["statename"] != "EXITED":  # FATAL: it could not be spawned at all
                    why = f"could not start ({info['spawnerr'] or info['statename']})"
                elif info["exitstatus"] == -1:  # supervisor's word for "killed by a signal"
                    why, last = "was killed by a signal", ""  # its last words are no reason
                else:
                    why = f"exited with status {info['exitstatus']}"
                return f"{name} {why}{when}{f' ({last})' if last else ''}; see {self.log(name)}"
        return None

    def stop(self) -> None:
        """Stop every program (in reverse priority order) and supervisord; then SIGKILL
        whatever is left of any program's process group."""
        try:
            if self.popen is not None and self.popen.poll() is None:
                self.failure()  # note the latest process groups
                self.popen.send_signal(signal.SIGTERM)
                deadline = STOP_WAIT_SECONDS * (len({p.group for p in self.programs}) + 1)
                try:
                    self.popen.wait(deadline)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait()
            for pgid in self.groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)
