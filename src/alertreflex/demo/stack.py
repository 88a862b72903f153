"""Start and stop real Prometheus, Alertmanager and the demo Java service on loopback.

Used by ``alertreflex demo`` and by the end-to-end tests. Everything is synchronous:
``subprocess.Popen``, an ``httpx`` client and polling with deadlines.

    with Stack(workdir) as stack:
        am = stack.start_alertmanager("http://127.0.0.1:8080/webhook")
        prom = stack.start_prometheus(
            rule_files=[rules], scrape_targets=[], alertmanager_url=am.url
        )
        ...
    # every process the stack started is stopped here, also after an exception

Each process writes its stdout and stderr to ``workdir/<name>.log`` (rewritten at each
start); a ``StackError`` names that file and quotes its last lines. Data directories
(``alertmanager-data``, ``prometheus-data``) start empty every time.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import yaml

from alertreflex.process_groups import kill_group

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a process to become ready."""
STOP_TIMEOUT = 5.0
"""Seconds between SIGTERM and SIGKILL when stopping a process."""
POLL_INTERVAL = 0.05
LOG_TAIL_LINES = 20

DEFAULT_TOOLS = ("prometheus", "prometheus-alertmanager", "java", "javac", "jcmd")
_JDK_HINT = "apt-get install openjdk-17-jdk-headless"
INSTALL_HINTS: dict[str, str] = {
    "prometheus": "apt-get install prometheus",
    "promtool": "apt-get install prometheus",
    "prometheus-alertmanager": "apt-get install prometheus-alertmanager",
    "amtool": "apt-get install prometheus-alertmanager",
    "java": _JDK_HINT,
    "javac": _JDK_HINT,
    "jcmd": _JDK_HINT,
}


class StackError(RuntimeError):
    """A process of the stack could not be started, became unready or failed a request."""


@dataclass
class Proc:
    """One process started by a `Stack`."""

    name: str
    popen: subprocess.Popen[bytes]
    url: str
    """Base URL, ``http://127.0.0.1:PORT``."""
    log_path: Path
    """Where the process's stdout and stderr go."""

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        if port is None:  # pragma: no cover - the stack always builds URLs with a port
            raise ValueError(f"{self.url} has no port")
        return port

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.log_path, lines)


@dataclass
class Tool:
    """An external program the stack needs: where it was found, or how to install it."""

    name: str
    found: str | None
    install_hint: str

    def __str__(self) -> str:
        if self.found:
            return f"{self.name}: {self.found}"
        return f"{self.name}: not found on PATH (install with: {self.install_hint})"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def install_hint(name: str) -> str:
    return INSTALL_HINTS.get(name, f"install {name} and put it on PATH")


def check_tools(names: Iterable[str] = DEFAULT_TOOLS) -> list[Tool]:
    """Look each program up on PATH; ``found`` is None for the missing ones."""
    return [Tool(name, shutil.which(name), install_hint(name)) for name in names]


def require_tools(names: Iterable[str] = DEFAULT_TOOLS) -> list[Tool]:
    """Like `check_tools`, but raise `StackError` listing every missing program and its hint."""
    tools = check_tools(names)
    missing = [t for t in tools if t.found is None]
    if missing:
        raise StackError("missing programs:\n" + "\n".join(f"  {t}" for t in missing))
    return tools


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = POLL_INTERVAL,
) -> T:
    """Call ``predicate`` until it returns a truthy value and return that value.

    Raises `StackError` ``timed out after {timeout}s waiting for {what}``. The predicate
    is called at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def _write_yaml(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return path


def _fresh_dir(path: Path) -> Path:
    """An empty directory: a previous run's notification log or TSDB would change what
    Alertmanager and Prometheus send (an Alertmanager that remembers having notified
    a group stays quiet until ``repeat_interval``)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname or parts.port is None:
        raise StackError(f"URL {url!r} needs a host and a port")
    return parts.netloc


class Stack:
    """A set of processes on loopback, stopped in reverse order when the block ends.

    ``workdir`` receives the generated configs, the data directories and one
    ``<name>.log`` per process.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self.alertmanager: Proc | None = None
        self.prometheus: Proc | None = None
        self.demo_service: Proc | None = None
        self._prometheus_alertmanager_url: str | None = None
        self._http = httpx.Client(timeout=2.0, trust_env=False)

    # -- context manager ------------------------------------------------------------

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process and release the HTTP client."""
        try:
            self.stop_all()
        finally:
            self._http.close()

    # -- generic processes ----------------------------------------------------------

    def start(
        self,
        name: str,
        argv: list[str],
        ready_url: str,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        url: str | None = None,
    ) -> Proc:
        """Start ``argv``, output in ``workdir/<name>.log``; wait until ``ready_url`` is 200.

        ``env`` adds to (and overrides) this process's environment. ``url`` is the
        `Proc.url`; by default the scheme, host and port of ``ready_url``.
        """
        if any(p.name == name for p in self.procs):
            raise StackError(f"{name}: this stack already started a process of that name")
        if not argv:
            raise StackError(f"{name}: empty command line")
        if shutil.which(argv[0]) is None:
            raise StackError(
                f"{name}: program {argv[0]!r} not found on PATH "
                f"(install with: {install_hint(Path(argv[0]).name)})"
            )
        if url is None:
            parts = urlsplit(ready_url)
            url = f"{parts.scheme}://{parts.netloc}"
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            log.write(f"==> {' '.join(argv)}\n".encode())
            log.flush()
            try:
                popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    env={**os.environ, **env} if env is not None else None,
                    # Its own process group: Ctrl-C reaches only us, and we stop the
                    # processes in order; the group lets us clean up grandchildren.
                    start_new_session=True,
                )
            except OSError as exc:
                raise StackError(f"{name}: cannot start {argv[0]}: {exc}") from exc
        proc = Proc(name=name, popen=popen, url=url, log_path=log_path)
        self.procs.append(proc)
        self.wait_ready(proc, ready_url, timeout=timeout)
        return proc

    def wait_ready(self, proc: Proc, ready_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Poll ``ready_url`` until it answers 200; fail at once if the process exits."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            self.check_running(proc, "before it was ready")
            try:
                resp = self._http.get(ready_url, timeout=1.0)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if resp.status_code == 200:
                    return
                last = f"HTTP {resp.status_code}"
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{proc.name} not ready after {timeout}s: GET {ready_url} -> {last}; "
                    f"log {proc.log_path}, last lines:\n{proc.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def check_running(self, proc: Proc, when: str = "unexpectedly") -> None:
        """Raise `StackError` with the exit code and log tail if ``proc`` has exited."""
        code = proc.popen.poll()
        if code is not None:
            raise StackError(
                f"{proc.name} exited with code {code} {when}; "
                f"log {proc.log_path}, last lines:\n{proc.log_tail()}"
            )

    def stop(self, proc: Proc, *, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; return the exit code."""
        popen = proc.popen
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(popen.pid)
                popen.wait()
            # Whatever it left behind in its process group (it led a new session). Only
            # right after reaping it ourselves: a PID that died long ago may be reused.
            kill_group(popen.pid)
        if proc in self.procs:
            self.procs.remove(proc)
        for attr in ("alertmanager", "prometheus", "demo_service"):
            if getattr(self, attr) is proc:
                setattr(self, attr, None)
        return popen.returncode

    def stop_all(self) -> None:
        """Stop every process this stack started, the last started first."""
        errors: list[BaseException] = []
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise StackError(f"could not stop every process: {errors}") from errors[0]

    # -- Alertmanager ---------------------------------------------------------------

    def start_alertmanager(
        self,
        webhook_url: str,
        *,
        group_wait: str = "0s",
        group_interval: str = "100ms",
        repeat_interval: str = "1h",
        bearer_token: str | None = None,
        send_resolved: bool = True,
        port: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        config: Mapping[str, Any] | None = None,
    ) -> Proc:
        """Alertmanager routing every alert to one webhook receiver, ``alertreflex``.

        ``config`` replaces the generated configuration; the other arguments then
        only override its route's timings and its first webhook's URL."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": send_resolved}
        if bearer_token is not None:
            webhook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials": bearer_token}
            }
        timings = {
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        }
        if config is None:
            doc: dict[str, Any] = {
                "route": {"receiver": "alertreflex", "group_by": ["alertname", "instance"]},
                "receivers": [{"name": "alertreflex", "webhook_configs": [webhook]}],
            }
        else:
            doc = copy.deepcopy(dict(config))
            try:
                doc["receivers"][0]["webhook_configs"][0]["url"] = webhook_url
            except (KeyError, IndexError, TypeError) as exc:
                raise StackError(
                    "the Alertmanager config needs a first receiver with a webhook_config"
                ) from exc
        doc["route"] = {**doc.get("route", {}), **timings}
        config_file = _write_yaml(self.workdir / "alertmanager.yml", doc)
        data = _fresh_dir(self.workdir / "alertmanager-data")
        proc = self.start(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={config_file}",
                f"--storage.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={url}",
                "--cluster.listen-address=",
            ],
            f"{url}/-/ready",
            timeout=timeout,
            url=url,
        )
        self.alertmanager = proc
        return proc

    # -- Prometheus -----------------------------------------------------------------

    def start_prometheus(
        self,
        *,
        rule_files: list[Path],
        scrape_targets: list[str],
        alertmanager_url: str | None,
        interval: str = "100ms",
        port: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Proc:
        """Prometheus evaluating ``rule_files``, scraping ``scrape_targets`` (job ``demo``).

        Returns once Prometheus lists the Alertmanager at ``alertmanager_url`` as
        active: before that, it drops the alerts it would send. Without one (None),
        Prometheus only evaluates. ``rule_files`` may hold globs, as in its config.
        """
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": interval,
                # The default 10s must not exceed the scrape interval.
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [str(Path(f).resolve()) for f in rule_files],
            "scrape_configs": [
                {"job_name": "demo", "static_configs": [{"targets": list(scrape_targets)}]}
            ],
        }
        if alertmanager_url is not None:
            am = urlsplit(alertmanager_url)
            am_config: dict[str, Any] = {
                "scheme": am.scheme or "http",
                "static_configs": [{"targets": [_host_port(alertmanager_url)]}],
            }
            if am.path.strip("/"):
                am_config["path_prefix"] = am.path
            config["alerting"] = {"alertmanagers": [am_config]}
        config_path = _write_yaml(self.workdir / "prometheus.yml", config)
        data = _fresh_dir(self.workdir / "prometheus-data")
        deadline = time.monotonic() + timeout
        proc = self.start(
            "prometheus",
            [
                "prometheus",
                f"--config.file={config_path}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={url}",
                "--web.enable-lifecycle",
                "--rules.alert.resend-delay=2s",
            ],
            f"{url}/-/ready",
            timeout=timeout,
            url=url,
        )
        self.prometheus = proc
        self._prometheus_alertmanager_url = alertmanager_url
        if alertmanager_url is not None:
            self.wait_alertmanager_listed(
                alertmanager_url, timeout=max(1.0, deadline - time.monotonic())
            )
        return proc

    def active_alertmanagers(self) -> list[str]:
        """The URLs Prometheus currently sends alerts to."""
        prom = self._require_prometheus()
        resp = self._http.get(f"{prom.url}/api/v1/alertmanagers")
        resp.raise_for_status()
        active = resp.json()["data"]["activeAlertmanagers"]
        return [str(a["url"]) for a in active]

    def wait_alertmanager_listed(
        self, alertmanager_url: str, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Wait until Prometheus lists the Alertmanager at ``alertmanager_url`` as active."""
        prom = self._require_prometheus()
        want = _host_port(alertmanager_url)

        def listed() -> bool:
            self.check_running(prom, "while waiting for it to list the Alertmanager")
            try:
                urls = self.active_alertmanagers()
            except httpx.HTTPError:
                return False
            return any(urlsplit(u).netloc == want for u in urls)

        try:
            wait_for(listed, timeout, f"Prometheus to list the Alertmanager at {want}")
        except StackError as exc:
            raise StackError(f"{exc}; log {prom.log_path}, last lines:\n{prom.log_tail()}") from exc

    def reload_prometheus(
        self, *, wait_alertmanager: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """``POST /-/reload``: Prometheus re-reads its config and rule files.

        Even an unchanged config makes Prometheus 2.42 drop its Alertmanager list for
        2-4 s, and alerts it would send meanwhile are lost; with ``wait_alertmanager``
        (the default) this returns once the Alertmanager is listed again.
        """
        prom = self._require_prometheus()
        try:
            resp = self._http.post(f"{prom.url}/-/reload", timeout=10.0)
        except httpx.HTTPError as exc:
            raise StackError(
                f"prometheus reload failed: {exc}; log {prom.log_path}, "
                f"last lines:\n{prom.log_tail()}"
            ) from exc
        if resp.status_code != 200:
            raise StackError(
                f"prometheus reload failed: HTTP {resp.status_code} {resp.text.strip()}; "
                f"log {prom.log_path}, last lines:\n{prom.log_tail()}"
            )
        if wait_alertmanager and self._prometheus_alertmanager_url is not None:
            self.wait_alertmanager_listed(self._prometheus_alertmanager_url, timeout=timeout)

    def _require_prometheus(self) -> Proc:
        if self.prometheus is None:
            raise StackError("Prometheus is not running in this stack; call start_prometheus")
        return self.prometheus

    # -- the demo service -----------------------------------------------------------

    @property
    def demo_service_log(self) -> Path:
        """The demo service's own application log (``--log-file``)."""
        return self.workdir / "demo-service.log"

    def start_demo_service(
        self, source: Path, *, port: int | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Proc:
        """Compile ``source`` (a single class in the default package) and run it.

        The process is named ``demo``: its stdout and stderr go to ``workdir/demo.log``,
        its application log to `demo_service_log`.
        """
        source = Path(source).resolve()
        if not source.is_file():
            raise StackError(f"demo service source {source} does not exist")
        for tool in ("javac", "java"):
            if shutil.which(tool) is None:
                raise StackError(f"{tool} not found on PATH (install with: {install_hint(tool)})")
        classes = self.workdir / "classes"
        classes.mkdir(exist_ok=True)
        javac_log = self.workdir / "javac.log"
        with javac_log.open("wb") as log:
            result = subprocess.run(
                ["javac", "-d", str(classes), str(source)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=120,
            )
        if result.returncode != 0:
            raise StackError(
                f"javac {source} failed with code {result.returncode}; "
                f"log {javac_log}, last lines:\n{tail(javac_log)}"
            )
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        proc = self.start(
            "demo",
            [
                "java",
                "-cp",
                str(classes),
                source.stem,
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--log-file",
                str(self.demo_service_log),
            ],
            f"{url}/-/healthy",
            timeout=timeout,
            url=url,
        )
        self.demo_service = proc
        return proc
