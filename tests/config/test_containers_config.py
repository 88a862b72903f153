"""``settings.containers`` and the ``container`` target of steps, as the loader checks
them: what can never be allowed is a config error at its file, line and path, before
any engine is asked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import Config, ConfigError, load_config
from tests.conftest import run_cli


def load(tmp_path: Path, text: str, name: str = "alertreflex.yml") -> Config:
    f = tmp_path / name
    f.write_text(text)
    return load_config(f, params_models(load_action_types()))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    return [str(p).replace(f"{tmp_path}/", "") for p in err.value.problems]


def reflex(step: str, team: str = "warehouse") -> str:
    return f"""\
reflexes:
  - name: acts-in-a-container
    team: {team}
    match: ['alertname="Stuck"']
    on_firing:
      - {step}
"""


def test_check_refuses_a_selector_that_pins_another_team(tmp_path: Path) -> None:
    """`alertreflex check` refuses a reflex whose label selector asks for another
    team's containers, at the line and path of that label."""
    f = tmp_path / "alertreflex.yml"
    f.write_text(
        reflex(
            """exec:
          command: ["true"]
          container:
            labels:
              app: orders
              team: payments"""
        )
    )
    r: subprocess.CompletedProcess[str] = run_cli("check", str(f))
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        f"{f}:11: reflexes[0].on_firing[0].exec.container.labels.team: selects containers "
        "of team 'payments' (team=payments), but this reflex belongs to team 'warehouse': "
        "reflexes act only on their own team's containers",
        "FAILED: 1 problem",
    ]


def test_a_selector_outside_settings_containers_match_is_refused(tmp_path: Path) -> None:
    """A literal label value that settings.containers.match can never allow is an error
    (for any action with a container target); a templated one is left to run time, and
    the team's own label is fine."""
    settings = """\
settings:
  containers:
    match: ['env=~"prod|preprod"', 'com.example.automation!="off"']
"""
    found = problems(
        tmp_path,
        settings
        + reflex(
            """jvm_thread_dump:
          container: {labels: {env: staging, com.example.automation: "off", team: warehouse}}"""
        ),
    )
    assert found == [
        "alertreflex.yml:10: reflexes[0].on_firing[0].jvm_thread_dump.container.labels.env: "
        'env=staging selects only containers that settings.containers.match refuses (env=~"prod|preprod")',
        "alertreflex.yml:10: reflexes[0].on_firing[0].jvm_thread_dump.container.labels."
        "com.example.automation: com.example.automation=off selects only containers that "
        'settings.containers.match refuses (com.example.automation!="off")',
    ]
    cfg = load(
        tmp_path,
        settings
        + reflex(
            """jvm_thread_dump:
          container: {labels: {env: "{{ alert.labels.env }}", team: warehouse}}"""
        ),
    )
    assert "acts-in-a-container" in cfg.reflexes


def test_the_container_ownership_label_can_differ_from_the_alerts(tmp_path: Path) -> None:
    """settings.containers.ownership_label names the container label that holds the
    team; the static check follows it."""
    settings = "settings:\n  containers: {ownership_label: com.example.team}\n"
    found = problems(
        tmp_path,
        settings
        + reflex('exec: {command: ["true"], container: {labels: {com.example.team: payments}}}'),
    )
    assert len(found) == 1 and "labels.com.example.team: selects containers of team" in found[0]
    cfg = load(
        tmp_path,
        settings + reflex('exec: {command: ["true"], container: {labels: {team: payments}}}'),
    )
    assert cfg.containers.ownership_label == "com.example.team"


def test_settings_containers_are_validated(tmp_path: Path) -> None:
    """A URL the engine client cannot use, TLS on a socket, a broken matcher, and a
    certificate without its key are each reported at their key."""
    found = problems(
        tmp_path,
        """\
settings:
  containers:
    url: ssh://root@engine.example
    match: ['app=~"(unclosed"', 'com.docker.compose.project="shop"']
    tls: {cert_file: /etc/client.pem}
""",
    )
    assert sorted(found) == [
        "alertreflex.yml:3: settings.containers.url: 'ssh://root@engine.example' is not an "
        "engine address: expected unix:///path/to/socket, tcp://host:port, http://host:port "
        "or https://host:port",
        "alertreflex.yml:4: settings.containers.match[0]: invalid matcher 'app=~\"(unclosed\"': "
        "bad regex: missing ), unterminated subpattern at position 0",
        "alertreflex.yml:5: settings.containers.tls: cert_file and key_file go together",
    ]
    socket_tls = problems(
        tmp_path,
        "settings:\n  containers:\n    url: unix:///run/podman/podman.sock\n"
        "    tls: {ca_file: /etc/ca.pem}\n",
    )
    assert socket_tls == [
        "alertreflex.yml:3: settings.containers: tls needs a tcp:// or https:// url, not "
        "'unix:///run/podman/podman.sock'"
    ]


def test_tls_files_are_read_at_load_and_reported_at_their_line(tmp_path: Path) -> None:
    """Like secrets, the TLS files are read when the config loads: a missing one, or
    one that is not PEM, is an error at the line of its key; good files load."""
    not_pem = tmp_path / "client.pem"
    not_pem.write_text("not a certificate\n")
    key = tmp_path / "client.key"
    key.write_text("not a key either\n")
    found = problems(
        tmp_path,
        f"""\
settings:
  containers:
    url: tcp://engine.example:2376
    tls:
      ca_file: {tmp_path}/missing-ca.pem
      cert_file: {not_pem}
      key_file: {key}
""",
    )
    assert found == [
        "alertreflex.yml:5: settings.containers.tls.ca_file: cannot read missing-ca.pem: "
        "No such file or directory"
    ]
    found = problems(
        tmp_path,
        f"""\
settings:
  containers:
    url: tcp://engine.example:2376
    tls: {{cert_file: {not_pem}, key_file: {key}}}
""",
    )
    assert len(found) == 1
    assert found[0].startswith(
        "alertreflex.yml:4: settings.containers.tls.cert_file: client.pem and client.key are "
        "not a PEM certificate and its private key"
    )
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=alertreflex", "-keyout", str(key), "-out", str(not_pem)],
        check=True, capture_output=True,
    )  # fmt: skip
    cfg = load(
        tmp_path,
        f"""\
settings:
  containers:
    url: tcp://engine.example:2376
    tls: {{cert_file: {not_pem}, key_file: {key}}}
""",
    )
    assert cfg.containers.tls is not None and not cfg.containers.tls_unread


def test_container_targets_of_the_steps_are_checked(tmp_path: Path) -> None:
    """A literal container name must be one; url and container do not combine; with a
    container, pid and main_class are optional but exclusive."""
    found = problems(
        tmp_path,
        """\
reflexes:
  - name: bad-targets
    team: warehouse
    match: ['alertname="Stuck"']
    on_firing:
      - exec: {command: ["true"], container: "../../images/json"}
      - jvm_thread_dump: {container: orders-1, url: "http://orders:8080/actuator/threaddump"}
      - jvm_thread_dump: {container: orders-1, pid: 1, main_class: Orders}
      - exec: {command: ["true"], container: {labels: {}}}
      - exec: {command: ["true"], container: 42}
""",
    )
    assert found == [
        "alertreflex.yml:6: reflexes[0].on_firing[0].exec.container: '../../images/json' is "
        "not a container name or id ([A-Za-z0-9][A-Za-z0-9_.-]*)",
        "alertreflex.yml:7: reflexes[0].on_firing[1].jvm_thread_dump: url cannot be combined "
        "with container: the url form asks HTTP",
        "alertreflex.yml:8: reflexes[0].on_firing[2].jvm_thread_dump: with container, give pid "
        "or main_class, or neither (got pid, main_class)",
        "alertreflex.yml:9: reflexes[0].on_firing[3].exec.container: labels: Dictionary "
        "should have at least 1 item after validation, not 0",
        "alertreflex.yml:10: reflexes[0].on_firing[4].exec.container: expected a container "
        "name or id, or {labels: {KEY: VALUE}}",
    ]
    cfg = load(
        tmp_path,
        reflex('jvm_thread_dump: {container: "{{ alert.labels.container }}"}'),
    )
    assert "acts-in-a-container" in cfg.reflexes
