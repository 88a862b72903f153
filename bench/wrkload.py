"""Load from ``wrk`` (Debian's package) for the benchmarks: Lua scripts that post
Alertmanager webhook bodies, and wrk's figures read back as numbers.

wrk runs in its own process, in C: on two cores a Python load generator takes most
of a core from the server it measures. Every script ends with a ``done()`` hook that
prints one JSON line (requests, non-2xx answers, socket errors, latency percentiles
in microseconds), which ``run_wrk`` parses.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

# {alerts} alerts per notification, each a new episode: a unique label, fingerprint
# and startsAt per alert from the thread's id and a counter. {delay} ms between two
# requests of a connection (0: as fast as the server answers).
NEW_EPISODES_LUA = """\
local counter = 0
thread_id = 0  -- a global: setup() sets it in each thread's own Lua state
local alerts = {alerts}
local pause = {delay}
local head = '{{"receiver":"alertreflex","status":"firing","groupLabels":{{"alertname":"Flood"}},'
  .. '"commonLabels":{{"alertname":"Flood","team":"bench"}},"commonAnnotations":{{}},'
  .. '"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{{}}:{{alertname=\\\\"Flood\\\\"}}",'
  .. '"truncatedAlerts":0,"alerts":['
local alert = '{{"status":"firing","labels":{{"alertname":"Flood","team":"bench","seq":"%s"}},'
  .. '"annotations":{{"summary":"flood"}},"startsAt":"2026-12-06T%02d:%02d:%02d.%06dZ",'
  .. '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph",'
  .. '"fingerprint":"%s"}}'
local salt = "{salt}"

function setup(thread)
  thread:set("thread_id", {next_id})
end

function request()
  local parts = {{}}
  for i = 1, alerts do
    counter = counter + 1
    local seq = string.format("%s-%d-%d", salt, thread_id, counter)
    local t = counter
    parts[i] = string.format(alert, seq, math.floor(t / 3600000000) % 24,
      math.floor(t / 60000000) % 60, math.floor(t / 1000000) % 60, t % 1000000,
      string.format("%s%02x%012x", salt, thread_id, counter))
  end
  local body = head .. table.concat(parts, ",") .. "]}}"
  return wrk.format("POST", "/webhook", {{["Content-Type"] = "application/json"}}, body)
end

if pause > 0 then
  function delay()
    return pause
  end
end
"""

STATIC_BODY_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{path}", "rb")
wrk.body = f:read("*a")
f:close()
"""

# Appended to every script: one JSON line wrk's caller reads.
DONE_LUA = """
function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def new_episodes_script(
    path: Path, *, alerts: int = 1, delay_ms: int = 0, salt: str = "b0"
) -> Path:
    """A script whose every request is a notification of ``alerts`` new episodes."""
    # wrk calls setup() once per thread, in order: a global counter numbers them.
    text = NEW_EPISODES_LUA.format(
        alerts=alerts, delay=delay_ms, salt=salt, next_id="next_thread_id()"
    )
    prelude = "local threads = 0\nfunction next_thread_id()\n  threads = threads + 1\n"
    prelude += "  return threads\nend\n"
    path.write_text(prelude + text + DONE_LUA)
    return path


def static_body_script(path: Path, body_file: Path) -> Path:
    """A script that posts the same body every time (Alertmanager's repeats)."""
    path.write_text(STATIC_BODY_LUA.format(path=body_file) + DONE_LUA)
    return path


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


async def run_wrk(
    url: str, script: Path, *, seconds: int, connections: int = 16, threads: int = 1
) -> WrkResult:
    """Run wrk against ``url`` (the webhook's) and return its figures."""
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{text}")
    doc = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=doc["requests"],
        seconds=doc["duration_us"] / 1e6,
        non2xx=doc["non2xx"],
        socket_errors=doc["connect"] + doc["read"] + doc["write"] + doc["timeout"],
        p50_ms=doc["p50_us"] / 1000,
        p99_ms=doc["p99_us"] / 1000,
        max_ms=doc["max_us"] / 1000,
    )
