"""The matchers `convert-amx` writes from am-executor's ``match_labels``: read back by
alertreflex to the same labels, by amtool where Alertmanager 0.25 can read them (classic
label names), and quoted for UTF-8 label names (Prometheus 3), which am-executor compares
as plain text like any other name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alertreflex.config.yamlfile import load_yaml
from alertreflex.convert.amx.config import parse_amx_config
from alertreflex.convert.amx.reflexes import ConvertOptions, convert_amx
from alertreflex.core.matchers import Matcher, MatchOp, parse_matcher
from alertreflex.demo.stack import install_hint
from tests.conftest import run_cli

TRICKY_VALUES = ['a"b', "back\\slash", "two\nlines", "a,b", "{x}", "Zürich ☺", " pad ", "=x"]


def converted_matchers(match_labels: dict[str, str]) -> list[str]:
    """The ``match`` list of the one reflex converted from one command, as YAML has it."""
    text = yaml.safe_dump({"commands": [{"cmd": "/bin/true", "match_labels": match_labels}]})
    conversion = convert_amx(parse_amx_config(text, "amx.yml"), ConvertOptions(team="ops"))
    [reflex] = load_yaml(conversion.to_yaml()).data["reflexes"]
    match: list[str] = reflex["match"]
    return match


def test_utf8_label_names_are_converted_to_quoted_matchers() -> None:
    """A UTF-8 label name in match_labels becomes a quoted-name matcher that reads back
    to the same name and value."""
    labels = {"service.name": "checkout", "k8s.pod-name": 'web "1"', "alertname": "Slow"}
    written = converted_matchers(labels)
    assert '"service.name"="checkout"' in written
    assert '"k8s.pod-name"="web \\"1\\""' in written
    assert 'alertname="Slow"' in written
    read = [parse_matcher(text) for text in written]
    assert {m.name: m.value for m in read} == labels
    assert all(m.op is MatchOp.EQUAL and m.matches(labels) for m in read)


def test_converted_utf8_matchers_pass_alertreflex_check(tmp_path: Path) -> None:
    """The converted file with UTF-8 names passes the real `alertreflex check`."""
    amx = tmp_path / "amx.yml"
    amx.write_text(
        yaml.safe_dump(
            {
                "commands": [
                    {"cmd": "/bin/true", "match_labels": {"service.name": "checkout"}},
                    {"cmd": "/bin/false", "match_labels": {"Größe": "XL", "team": "ops"}},
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    out = tmp_path / "reflexes.yml"
    done = run_cli("convert-amx", str(amx), "--team", "ops", "-o", str(out))
    assert done.returncode == 0, done.stderr
    checked = run_cli("check", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_empty_value_remark_names_the_matcher_as_written() -> None:
    """The remark on an empty match_labels value quotes a UTF-8 name as the matcher does."""
    text = yaml.safe_dump({"commands": [{"cmd": "x", "match_labels": {"service.name": ""}}]})
    conversion = convert_amx(parse_amx_config(text, "amx.yml"), ConvertOptions(team="ops"))
    [said] = [t for t in conversion.reflexes[0].remarks if "is empty" in t]
    assert '"service.name"="" here matches alerts without the label' in said


def test_classic_matchers_written_are_read_by_amtool(tmp_path: Path) -> None:
    """Matchers converted from classic label names with tricky values are valid
    Alertmanager 0.25 route matchers, and route exactly the alert they came from."""
    if shutil.which("amtool") is None:
        pytest.fail(f"this test needs amtool: {install_hint('amtool')}")
    for i, value in enumerate(TRICKY_VALUES):
        labels = {"alertname": "A", "instance": value}
        config = {
            "route": {
                "receiver": "default",
                "routes": [{"receiver": "converted", "matchers": converted_matchers(labels)}],
            },
            "receivers": [{"name": "default"}, {"name": "converted"}],
        }
        path = tmp_path / f"am{i}.yml"
        path.write_text(yaml.safe_dump(config, allow_unicode=False), encoding="utf-8")
        for alert, receiver in ((labels, "converted"), ({**labels, "instance": "x"}, "default")):
            args = [str(Matcher(k, MatchOp.EQUAL, v)) for k, v in alert.items()]
            routed = subprocess.run(
                ["amtool", "config", "routes", "test", f"--config.file={path}", *args],
                capture_output=True,
                timeout=60,
                check=False,
            )
            assert routed.returncode == 0, routed.stderr.decode()
            assert routed.stdout.decode().strip() == receiver, (value, alert)
