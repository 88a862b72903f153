"""The remarks: what maps from am-executor and what behaves differently, in plain words.

Each remark is one line of text: the converted YAML carries them as comments and
``alertreflex convert-amx`` prints them on standard error.
"""

from __future__ import annotations

from collections.abc import Sequence

from alertreflex.convert.amx.config import AmxCommand, AmxConfig
from alertreflex.core.matchers import Matcher, MatchOp


def one_line(text: str) -> str:
    """User text inside a one-line comment or remark: control characters escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def general(config: AmxConfig, *, ownership_label: str, timeout: str) -> list[str]:
    """What differs for every command, first in the output."""
    label = ownership_label
    out = [
        "am-executor runs a command once per notification: for a whole alert group, and "
        "again at each group change and every repeat_interval while it fires. alertreflex "
        "runs a reflex once per alert episode (one alert's fingerprint and startsAt): "
        "Alertmanager's repeats start nothing, and a group of three alerts starts three "
        "runs, one per alert (AMX_ALERT_LEN=1).",
        "match_labels were compared with the labels common to all alerts of a "
        "notification; here each alert's own labels must equal them (Alertmanager '=' "
        f"matchers), and a reflex only sees alerts of its team (label {label!r}).",
        "am-executor never started a command for a resolved notification; neither do these "
        "reflexes unless converted with --run-on-resolved, which adds an on_resolved step "
        "running the command again with AMX_STATUS=resolved, as am-executor releases "
        "before ignore_resolved did.",
        "Failures: am-executor answered Alertmanager after its commands ended, with HTTP "
        "500 when one failed (notify_on_failure, default true), so Alertmanager sent the "
        "notification again and the commands ran again. alertreflex answers once the "
        "notification is stored and never re-runs on its own: each run is kept with its "
        "state and output (alertreflex runs --state failed), counted in "
        'alertreflex_runs_total{outcome="failed"}, alerted on by the shipped '
        "AlertreflexRunsFailing rule; max_failures stops a reflex that keeps failing and "
        "alertreflex rerun runs one again.",
        "Environment: amx_env: true gives commands the AMX_* variables am-executor set, "
        "for their one alert: AMX_LABEL_<name> and AMX_ANNOTATION_<name> (and their "
        "AMX_ALERT_1_ twins) for every label and annotation of the alert, AMX_GLABEL_<name> "
        "for the group labels, AMX_ALERT_1_START and _END in seconds since the epoch (0 "
        "while firing). A name keeps its case; characters other than letters, digits and "
        "_ (Prometheus 3 allows them) become _. Commands also get alertreflex's ALERT_* "
        "variables and the alert as JSON on stdin. They no longer inherit the server's "
        "environment, only PATH, HOME, LANG, LC_ALL, TZ and USER: add what a script needs "
        "to its env.",
        f"am-executor let a command run as long as it liked and logged its output; here "
        f"timeout: {timeout} kills its process group after that long (--timeout), and "
        "stdout and stderr are kept in the run.",
    ]
    if ownership_label != "team":
        out.append(
            f"The team comes from the label {label!r}: alertreflex's "
            f"settings.ownership_label must be {label!r} as well."
        )
    listen = config.listen_address
    was = f"listened on {one_line(listen)!r} and " if listen else ""
    out.append(
        f"am-executor {was}took notifications on any path; alertreflex listens where "
        "alertreflex serve --listen HOST:PORT says and takes them on /webhook: point "
        "Alertmanager's webhook_configs url at http://HOST:PORT/webhook, with "
        "send_resolved: true so that resolves reach it. Beyond loopback, alertreflex needs "
        "settings.auth (docs/auth.md); settings.webhook_auth checks Alertmanager's "
        "credentials."
    )
    if config.verbose:
        out.append("verbose: true is alertreflex serve --log-level debug.")
    if config.tls_key or config.tls_crt:
        out.append(
            "tls_key/tls_crt: alertreflex serves plain HTTP; terminate TLS in a reverse "
            "proxy in front of it, or keep Alertmanager and alertreflex on one host."
        )
    return out


def for_command(
    cmd: AmxCommand,
    *,
    team: str,
    ownership_label: str,
    matchers: dict[str, str],
    run_on_resolved: bool,
    unlimited: int,
    scripts: Sequence[str],
) -> list[str]:
    """What differs for one command's reflex: ``team`` is its team, ``matchers`` its
    other match_labels, ``unlimited`` the default max_concurrent and ``scripts`` the
    script files that read alerts past the first."""
    label = ownership_label
    out = []
    if not cmd.match_labels.get(label):
        anything = "any alert that matched" if cmd.match_labels else "every alert"
        out.append(
            f"team {team!r} comes from --team: the reflex only sees alerts labelled "
            f'{label}="{team}", where am-executor ran the command for {anything}.'
        )
    out += _empty_matchers(matchers)
    out += _resolved(cmd, run_on_resolved)
    out.append(_limit(cmd.max, unlimited))
    if cmd.notify_on_failure is False:
        out.append(
            "notify_on_failure: false: am-executor only logged a failure; here every "
            "failed run is recorded with its output and counted, as any other."
        )
    out += _program(cmd.cmd)
    if scripts:
        out.append(
            f"{', '.join(scripts)}: reads AMX_ALERT_<n> variables past the "
            "first alert, but each run here sees one alert (AMX_ALERT_LEN=1)."
        )
    return out


def _empty_matchers(matchers: dict[str, str]) -> list[str]:
    return [
        f"match_labels.{name} is empty: am-executor wanted the label present "
        "with an empty value, which Prometheus alerts never have (it drops empty "
        f"labels); {Matcher(name, MatchOp.EQUAL, '')} here matches alerts without the label."
        for name, value in matchers.items()
        if value == ""
    ]


def _resolved(cmd: AmxCommand, run_on_resolved: bool) -> list[str]:
    if cmd.ignore_resolved:
        text = (
            "ignore_resolved: true: a command still running when its alert resolves "
            "is left to finish, here too (no cancel_on_resolve)."
        )
        if cmd.resolved_signal:
            text += f" Its resolved_signal {cmd.resolved_signal} was unused there as well."
        if run_on_resolved:
            text += " --run-on-resolved adds no on_resolved step to it, for the same reason."
        return [text]
    out = []
    sig = cmd.resolved_signal
    if sig is None or sig in ("SIGKILL", "9"):
        sent = "killed it (SIGKILL" + (", its resolved_signal)" if sig else ", the default)")
        out.append(
            f"When the alert resolves while the command runs, am-executor {sent}; "
            "cancel_on_resolve: true does the same, to the command's whole process "
            "group (am-executor signalled only the command's own process), and records "
            "the run as cancelled."
        )
    else:
        out.append(
            f"When the alert resolves while the command runs, am-executor sent it {sig} "
            "(resolved_signal); cancel_on_resolve: true sends SIGKILL instead, to its "
            f"whole process group, so the command gets no chance to act on {sig}. If "
            "it cleans up then, move that into an on_resolved step, which runs after "
            "the cancellation."
        )
    if run_on_resolved:
        out.append(
            "on_resolved runs the command again when the alert resolves, with "
            "AMX_STATUS=resolved (--run-on-resolved)."
        )
    return out


def _limit(n: int, unlimited: int) -> str:
    if n > 0:
        return (
            f"max: {n} became max_concurrent: {n}. am-executor counted the instances "
            "running for one alert fingerprint and skipped a notification past the "
            "limit; alertreflex counts the runs of this reflex over all its alerts and "
            "queues the rest, and one alert episode starts one firing run anyway."
        )
    return (
        f"No max: am-executor started any number at once; max_concurrent: "
        f"{unlimited} here (all reflexes together stay within "
        f"settings.max_concurrent_runs, default {unlimited})."
    )


def _program(cmd: str) -> list[str]:
    out = []
    if "/" in cmd and not cmd.startswith("/"):
        out.append(
            f"cmd {one_line(cmd)} is a relative path: alertreflex resolves it against "
            "its own working directory; an absolute path is safer."
        )
    if any(ch.isspace() for ch in cmd):
        out.append(
            f"cmd {one_line(cmd)} contains whitespace: like am-executor, alertreflex "
            "runs it as one program name, not as a shell command line."
        )
    return out
