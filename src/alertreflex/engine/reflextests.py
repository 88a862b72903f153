"""Reflex unit tests: ``*.reflextests.yml`` files, like ``promtool test rules``.

Teams keep these next to their reflexes; ``alertreflex test-reflexes`` and ``alertreflex
sync`` run them. A test gives an alert (or a webhook payload) and says which reflexes
it must trigger, with what rendered steps, and which it must not; see
docs/reflex-tests.md for the format. Nothing is executed: a test sees what
``alertreflex test --explain`` shows (:mod:`alertreflex.engine.explain`), and a reflex
*triggers* when it matches, has steps for the alert's status and, for a firing
alert, its time window lets it run. Cooldowns depend on earlier alerts and are left
out; a ``dry_run`` reflex is tested for what it will do once it is switched on.

Loading collects every problem of a file (``file:line: path: message``, as the config
loader does) before any test runs; running reports each failed expectation with the
line it was written on.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from alertreflex.actions.base import Action
from alertreflex.config.loader import Config, Problem, _pydantic_message
from alertreflex.config.yamlfile import LocatedDocument, YamlError, load_yaml
from alertreflex.core.fingerprint import fingerprint
from alertreflex.core.models import NOTIFICATION_ADAPTER, AlertIn, NotificationIn, Trigger
from alertreflex.core.paths import Path as DataPath
from alertreflex.core.paths import format_path
from alertreflex.engine.explain import Explanation, explain_alert
from alertreflex.engine.preview import StepRenderer, alert_payload, labels_text, notification_of

# Reads a payload file, named relative to the test file and given here joined to the
# test file's directory; raises OSError (FileNotFoundError) or KeyError when there is
# no such file. ``alertreflex sync`` passes one that reads from the commit it checks.
Reader = Callable[[str], bytes]

STEP_NAME_KEY = "name"


# --------------------------------------------------------------------------- results


@dataclass
class ReflexTestFailure:
    file: str
    line: int
    test: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: test {self.test!r}: {self.message}"


class ReflexTestFileError(ValueError):
    """A test file that cannot be read, parsed or validated; ``problems`` lists all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class ReflexTestResult:
    file: str
    test: str
    line: int
    failures: list[ReflexTestFailure]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class ReflexTestReport:
    results: list[ReflexTestResult] = field(default_factory=list)

    @property
    def failures(self) -> list[ReflexTestFailure]:
        return [f for r in self.results for f in r.failures]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)


# --------------------------------------------------------------------------- loaded tests


@dataclass(frozen=True)
class ExpectedStep:
    where: str  # "steps[1]", for messages
    line: int
    action: str
    params: dict[str, Any]
    name: str | None


@dataclass(frozen=True)
class ExpectedTrigger:
    reflex: str
    line: int
    steps: tuple[ExpectedStep, ...] | None


@dataclass(frozen=True)
class ReflexTest:
    name: str
    line: int
    notification: NotificationIn
    at: datetime | None  # None: when the test runs
    triggers: tuple[ExpectedTrigger, ...]
    not_triggers: tuple[tuple[str, int], ...]  # (reflex, line)
    only: int | None  # the line of `only: true`, or None


@dataclass(frozen=True)
class ReflexTestFile:
    path: str
    tests: tuple[ReflexTest, ...]


# --------------------------------------------------------------------------- the schema


def _label_text(value: Any) -> Any:
    # Label values are strings; YAML reads `code: 500` as a number, which Prometheus
    # and Alertmanager (Go's YAML) would take as the text "500".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


LabelValue = Annotated[str, BeforeValidator(_label_text)]


def _reflex_ref(value: Any) -> Any:
    return {"reflex": value} if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertSpec(_Strict):
    labels: dict[str, LabelValue]
    annotations: dict[str, LabelValue] = Field(default_factory=dict)
    status: Literal["firing", "resolved"] = "firing"
    starts_at: AwareDatetime | None = None


class TriggerSpec(_Strict):
    reflex: str = Field(min_length=1)
    steps: list[Any] | None = None  # shapes checked by _expected_step, with their lines


class CaseSpec(_Strict):
    name: str = Field(min_length=1)
    alert: AlertSpec | None = None
    payload: Any = None
    at: AwareDatetime | None = None
    triggers: list[Annotated[TriggerSpec, BeforeValidator(_reflex_ref)]] = Field(
        default_factory=list
    )
    not_triggers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    only: bool = False

    @model_validator(mode="after")
    def _complete(self) -> CaseSpec:
        if (self.alert is None) == (self.payload is None):
            raise ValueError("a test needs exactly one of 'alert' or 'payload'")
        if not (self.triggers or self.not_triggers or self.only):
            raise ValueError(
                "the test checks nothing: give triggers, not_triggers, or only: true "
                "(with no triggers: the alert must trigger no reflex)"
            )
        return self


class FileSpec(_Strict):
    # Each test is validated on its own (CaseSpec), so that a mistake in one test
    # does not hide the problems of the others.
    tests: list[Any] = Field(min_length=1)


# --------------------------------------------------------------------------- loading

# Takes the place of a payload that is not valid, so that loading can go on and
# report every problem of the file (which is then refused as a whole).
_STAND_IN = notification_of(alert_payload({}))


def load_reflex_tests(
    path: Path, text: str | None = None, read: Reader | None = None
) -> ReflexTestFile:
    """Load and validate one test file; raise ReflexTestFileError listing every problem.

    With ``text`` the file is not read from disk. Payload files are named relative to
    ``path`` and read with ``read`` (default: from disk).
    """
    name = str(path)
    if text is None:
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            message = f"cannot read: {exc.strerror or exc}"
            raise ReflexTestFileError([Problem(name, 0, "", message)]) from None
        except UnicodeDecodeError as exc:
            raise ReflexTestFileError([Problem(name, 0, "", f"not UTF-8: {exc}")]) from None
    try:
        doc = load_yaml(text)
    except YamlError as exc:
        raise ReflexTestFileError([Problem(name, exc.line, "", exc.message)]) from None
    return _FileLoader(path, doc, read or _read_disk).load()


def _read_disk(name: str) -> bytes:
    return Path(name).read_bytes()


class _FileLoader:
    def __init__(self, path: Path, doc: LocatedDocument, read: Reader) -> None:
        self.path = path
        self.doc = doc
        self.read = read
        self.problems: list[Problem] = []

    def problem(self, at: DataPath, message: str) -> None:
        self.problems.append(
            Problem(str(self.path), self.doc.line_of(at), format_path(at), message)
        )

    def load(self) -> ReflexTestFile:
        if not isinstance(self.doc.data, dict):
            self.problem((), "expected a mapping with a 'tests' list")
            raise ReflexTestFileError(self.problems)
        try:
            spec = FileSpec.model_validate(self.doc.data)
        except ValidationError as exc:
            self.pydantic_problems((), exc)
            raise ReflexTestFileError(self.problems) from None
        self.unique_names(spec.tests)
        cases: list[tuple[DataPath, CaseSpec]] = []
        for i, raw in enumerate(spec.tests):
            try:
                cases.append((("tests", i), CaseSpec.model_validate(raw)))
            except ValidationError as exc:
                self.pydantic_problems(("tests", i), exc)
        tests = tuple(self.test(at, case) for at, case in cases)
        if self.problems:
            raise ReflexTestFileError(sorted(self.problems, key=lambda p: p.line))
        return ReflexTestFile(str(self.path), tests)

    def pydantic_problems(self, at: DataPath, exc: ValidationError) -> None:
        for err in exc.errors():
            self.problem((*at, *err["loc"]), _pydantic_message(err))

    def unique_names(self, raw_tests: list[Any]) -> None:
        """Test names are unique in a file: failures name the test. Checked on the raw
        tests, so that a duplicate is found even next to another mistake."""
        first: dict[str, int] = {}
        for i, raw in enumerate(raw_tests):
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str):
                continue
            if name in first:
                line = self.doc.line_of(("tests", first[name]))
                message = f"test name {name!r} is not unique: also at line {line}"
                self.problem(("tests", i, "name"), message)
            else:
                first[name] = i

    def test(self, at: DataPath, case: CaseSpec) -> ReflexTest:
        triggers = tuple(
            ExpectedTrigger(
                t.reflex,
                self.doc.line_of((*at, "triggers", j)),
                self.steps((*at, "triggers", j, "steps"), t.steps),
            )
            for j, t in enumerate(case.triggers)
        )
        not_triggers = tuple(
            (name, self.doc.line_of((*at, "not_triggers", j)))
            for j, name in enumerate(case.not_triggers)
        )
        self.listed_once(at, case)
        return ReflexTest(
            name=case.name,
            line=self.doc.line_of(at),
            notification=self.notification(at, case),
            at=case.at,
            triggers=triggers,
            not_triggers=not_triggers,
            only=self.doc.line_of((*at, "only")) if case.only else None,
        )

    def listed_once(self, at: DataPath, case: CaseSpec) -> None:
        """A reflex is listed once in a test: twice is a copy-paste slip or a contradiction."""
        seen: dict[str, DataPath] = {}
        listed = [("triggers", t.reflex) for t in case.triggers]
        listed += [("not_triggers", name) for name in case.not_triggers]
        counts = {"triggers": 0, "not_triggers": 0}
        for key, name in listed:
            here: DataPath = (*at, key, counts[key])
            counts[key] += 1
            if name in seen:
                first = seen[name]
                where = f"{format_path(first[len(at) :])} (line {self.doc.line_of(first)})"
                self.problem(here, f"reflex {name!r} is already listed in {where}")
            else:
                seen[name] = here

    def steps(self, at: DataPath, raw: list[Any] | None) -> tuple[ExpectedStep, ...] | None:
        if raw is None:
            return None
        found = (self.expected_step((*at, k), item) for k, item in enumerate(raw))
        return tuple(s for s in found if s is not None)

    def expected_step(self, at: DataPath, raw: Any) -> ExpectedStep | None:
        """``{ACTION: {params...}}``, optionally with ``name: STEP NAME``."""
        shape = "a step is {ACTION: {param: value, ...}}, optionally with 'name'"
        if not isinstance(raw, dict):
            self.problem(at, shape)
            return None
        name = raw.get(STEP_NAME_KEY)
        kinds = [k for k in raw if k != STEP_NAME_KEY]
        if len(kinds) != 1:
            self.problem(at, f"{shape}; found {', '.join(kinds) or 'no action'}")
            return None
        action = kinds[0]
        params = raw[action] if raw[action] is not None else {}
        if not isinstance(params, dict):
            self.problem((*at, action), "expected parameters: a mapping (may be empty)")
            return None
        if name is not None and not isinstance(name, str):
            self.problem((*at, STEP_NAME_KEY), "a step name is a string")
            return None
        return ExpectedStep(format_path(at[-2:]), self.doc.line_of(at), action, params, name)

    def notification(self, at: DataPath, case: CaseSpec) -> NotificationIn:
        if case.alert is not None:
            a = case.alert
            raw = alert_payload(
                a.labels,
                status=a.status,
                annotations=a.annotations,
                starts_at=a.starts_at or case.at,
            )
            return notification_of(raw)
        here: DataPath = (*at, "payload")
        if isinstance(case.payload, str):
            target = os.path.normpath(self.path.parent / case.payload)
            return self.payload(here, self.payload_file(here, target), target)
        if isinstance(case.payload, dict):
            return self.payload(here, case.payload, None)
        self.problem(here, "a payload file name (relative to this file) or a mapping")
        return _STAND_IN

    def payload_file(self, at: DataPath, target: str) -> Any:
        try:
            return json.loads(self.read(target))
        except (OSError, KeyError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else None
            self.problem(at, f"cannot read payload file {target}: {reason or 'no such file'}")
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            self.problem(at, f"payload file {target} is not JSON: {exc}")
        return None

    def payload(self, at: DataPath, data: Any, file: str | None) -> NotificationIn:
        """The payload validated as the webhook does; ``file`` None: written inline."""
        what = f"{file}: not an Alertmanager webhook payload" if file else ""
        if isinstance(data, dict):
            try:
                return NOTIFICATION_ADAPTER.validate_python(_filled(data), strict=False)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = tuple(err["loc"])
                    if file is None:
                        self.problem((*at, *loc), _pydantic_message(err))
                    else:  # a JSON file: its lines are not known here, its paths are
                        inner = format_path(loc) or "payload"
                        self.problem(at, f"{what}: {inner}: {_pydantic_message(err)}")
        elif data is not None:
            self.problem(at, f"{what}: expected a JSON object")
        return _STAND_IN


def _filled(data: dict[str, Any]) -> dict[str, Any]:
    """What Alertmanager always sends but a hand-written payload may leave out."""
    alerts = data.get("alerts")
    if isinstance(alerts, list):
        alerts = [_with_fingerprint(a) for a in alerts]
        firing = any(isinstance(a, dict) and a.get("status") == "firing" for a in alerts)
        data = {"version": "4", "status": "firing" if firing else "resolved", **data}
        data["alerts"] = alerts
    return data


def _with_fingerprint(alert: Any) -> Any:
    if not isinstance(alert, dict) or "fingerprint" in alert:
        return alert
    labels = alert.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return alert  # validation says what is wrong with the labels
    return {**alert, "fingerprint": fingerprint(labels)}


# --------------------------------------------------------------------------- running


def run_reflex_tests(
    cfg: Config, files: Sequence[ReflexTestFile], actions: Mapping[str, Action[Any]]
) -> ReflexTestReport:
    """Run every test of ``files`` against ``cfg``; nothing is executed."""
    renderer = StepRenderer(cfg, actions)
    report = ReflexTestReport()
    for f in files:
        for test in f.tests:
            failures = _TestRun(cfg, f.path, test, renderer).run()
            report.results.append(ReflexTestResult(f.path, test.name, test.line, failures))
    return report


class _TestRun:
    def __init__(self, cfg: Config, file: str, test: ReflexTest, renderer: StepRenderer) -> None:
        self.cfg = cfg
        self.file = file
        self.test = test
        self.renderer = renderer
        self.failures: list[ReflexTestFailure] = []
        at = test.at or datetime.now(UTC)
        n = test.notification
        # Per alert: every reflex's explanation, by name.
        self.explained: list[tuple[AlertIn, dict[str, Explanation]]] = [
            (a, {e.reflex.name: e for e in explain_alert(cfg, a, n, at=at)}) for a in n.alerts
        ]

    def fail(self, line: int, message: str) -> None:
        self.failures.append(ReflexTestFailure(self.file, line, self.test.name, message))

    def run(self) -> list[ReflexTestFailure]:
        for t in self.test.triggers:
            if self.known(t.reflex, t.line):
                self.expect_trigger(t)
        for name, line in self.test.not_triggers:
            if self.known(name, line):
                self.expect_no_trigger(name, line)
        if self.test.only is not None:
            self.expect_nothing_else(self.test.only)
        return self.failures

    def known(self, name: str, line: int) -> bool:
        if name in self.cfg.reflexes:
            return True
        names = sorted(self.cfg.reflexes)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(names[:20]) + (
            f" (and {len(names) - 20} more)" if len(names) > 20 else ""
        )
        self.fail(line, f"no reflex named {name!r};{hint} known: {shown or 'none'}")
        return False

    def triggered_by(self, name: str) -> list[tuple[AlertIn, Explanation]]:
        return [(a, ex[name]) for a, ex in self.explained if ex[name].triggers]

    def about(self, alert: AlertIn) -> str:
        """Which alert a message is about, when the payload has several."""
        many = len(self.test.notification.alerts) > 1
        return f"alert {labels_text(alert.labels)}: " if many else ""

    def expect_trigger(self, t: ExpectedTrigger) -> None:
        hits = self.triggered_by(t.reflex)
        if not hits:
            why = "; ".join(self.about(a) + ex[t.reflex].reason for a, ex in self.explained)
            hint = ""
            if self.test.at is None and any(ex[t.reflex].outside_time for _, ex in self.explained):
                hint = " (the test sets no 'at', so that is the current time)"
            self.fail(t.line, f"reflex {t.reflex!r} did not trigger: {why}{hint}")
            return
        # It passes if one alert that triggers it renders steps as expected.
        problems = [self.steps_problem(t, a, ex) for a, ex in hits]
        if all(message for _, message in problems):
            (alert, _), (line, message) = hits[0], problems[0]
            self.fail(line, f"reflex {t.reflex!r}: {self.about(alert)}{message}")

    def steps_problem(self, t: ExpectedTrigger, alert: AlertIn, ex: Explanation) -> tuple[int, str]:
        """The line and text of what is wrong with the reflex's rendered steps for
        ``alert``; an empty text if nothing is."""
        steps = self.renderer.render(ex.reflex, alert, self.test.notification, ex.trigger)
        for i, s in enumerate(steps):
            if "error" in s:
                return t.line, f"{ex.trigger} step {i} ({s['name']}) does not render: {s['error']}"
        mismatch = _steps_mismatch(t.steps or (), steps, self.renderer.actions, ex.trigger)
        return mismatch or (t.line, "")

    def expect_no_trigger(self, name: str, line: int) -> None:
        for alert, ex in self.triggered_by(name):
            message = f"reflex {name!r} triggered, but is in not_triggers: {self.about(alert)}"
            self.fail(line, message + _why_it_runs(ex))

    def expect_nothing_else(self, line: int) -> None:
        listed = {t.reflex for t in self.test.triggers}
        listed |= {name for name, _ in self.test.not_triggers}  # reported already
        for name in self.cfg.reflexes:
            if name in listed:
                continue
            for alert, ex in self.triggered_by(name):
                self.fail(
                    line,
                    f"reflex {name!r} triggered, and only: true allows only the listed "
                    f"triggers: {self.about(alert)}{_why_it_runs(ex)}",
                )


def _why_it_runs(ex: Explanation) -> str:
    r = ex.reflex
    matchers = ", ".join(str(m) for m in r.matchers) or "no matchers"
    windowed = r.active_time_intervals or r.mute_time_intervals
    window = f"its time window lets it run at {ex.at.isoformat()}" if windowed else "no time window"
    return f"it matches (team {r.team!r}: {matchers}), {window}"


def _steps_mismatch(
    expected: Sequence[ExpectedStep],
    rendered: list[dict[str, Any]],
    actions: Mapping[str, Action[Any]],
    trigger: Trigger,
) -> tuple[int, str] | None:
    """The line and failure of the first expected step that does not appear, in
    order, among ``rendered``; None if they all do.

    Each expected step is matched with the next rendered step of its action (and
    name, if given) whose parameters contain the expected ones. Taking the first
    that fits is enough: a later choice never leaves more room for the rest.
    """
    pos = 0
    for e in expected:
        found, nearest = _find_step(e, rendered, pos, actions)
        if found is None:
            return e.line, _step_not_found(e, rendered, pos, nearest, actions, trigger)
        pos = found + 1
    return None


def _find_step(
    e: ExpectedStep, rendered: list[dict[str, Any]], start: int, actions: Mapping[str, Action[Any]]
) -> tuple[int | None, tuple[int, list[str]] | None]:
    """The index of the first step from ``start`` that fits ``e``, else the first step
    of the same action with how it differs."""
    nearest = None
    for j in range(start, len(rendered)):
        r = rendered[j]
        if r["action"] != e.action or e.name not in (None, r["name"]):
            continue
        action = actions.get(e.action)
        wanted = _as_action_writes(e.params, r["params"], action) if action else e.params
        diffs = _diffs(wanted, r["params"], ())
        if not diffs:
            return j, None
        nearest = nearest or (j, diffs)
    return None, nearest


def _step_not_found(
    e: ExpectedStep,
    rendered: list[dict[str, Any]],
    pos: int,
    nearest: tuple[int, list[str]] | None,
    actions: Mapping[str, Action[Any]],
    trigger: Trigger,
) -> str:
    head = f"{e.where} {e.action}"
    if nearest is not None:
        j, diffs = nearest
        return f"{head}: {trigger} step {j} ({rendered[j]['name']}) has " + "; ".join(diffs)
    if e.action not in actions:
        return f"{head}: unknown action type; known: {', '.join(sorted(actions))}"
    named = f" named {e.name!r}" if e.name is not None else ""
    after = f" after step {pos - 1}" if pos else ""
    listing = ", ".join(f"{i}. {r['action']} ({r['name']})" for i, r in enumerate(rendered))
    return f"{head}: no {e.action} step{named}{after}; {trigger} steps: {listing or 'none'}"


def _as_action_writes(
    expected: dict[str, Any], actual: dict[str, Any], action: Action[Any]
) -> dict[str, Any]:
    """The expected scalar parameters as the action's model writes them, so that
    ``timeout: 60s`` matches the rendered ``1m`` and ``count: "2"`` matches 2. When the
    expected values are not valid parameters, they are compared as written."""
    try:
        merged = action.Params.model_validate({**actual, **expected})
    except ValidationError:
        return expected
    written = merged.model_dump(mode="json", by_alias=True)
    return {
        k: v if isinstance(v, dict | list) or k not in written else written[k]
        for k, v in expected.items()
    }


def _diffs(expected: Any, actual: Any, at: DataPath) -> list[str]:
    """How ``actual`` fails to contain ``expected``: mappings are compared as subsets
    (recursively), lists item by item, everything else for equality."""
    where = format_path(at)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where} = {json.dumps(actual)}, expected a mapping"]
        out = []
        for k, v in expected.items():
            if k in actual:
                out += _diffs(v, actual[k], (*at, k))
            else:
                have = ", ".join(sorted(actual)) or "none"
                out.append(f"no parameter {format_path((*at, k))} (it has: {have})")
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in _diffs(e, a, (*at, i))
        ]
    # True == 1 in Python; in a step's parameters they mean different things.
    if expected == actual and isinstance(expected, bool) == isinstance(actual, bool):
        return []
    return [f"{where} = {json.dumps(actual)}, expected {json.dumps(expected, default=str)}"]
