"""Load and validate the config: one YAML file or a directory of them.

Validation is complete before anything is used: every problem is collected and
reported as ``file:line: path: message``, and a config with any problem is rejected
as a whole (a reload then keeps the last good one). Warnings (``file:line: path:
warning: message``) point at what works but is unsafe, and reject nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from alertreflex.config.containers import (
    ContainerAccess,
    LoadedTls,
    container_access,
    load_tls,
)
from alertreflex.config.schema import (
    STEP_KEYS,
    ConfigFile,
    ReflexConfig,
    Settings,
    StormGuard,
)
from alertreflex.config.users import ApiUser, read_users
from alertreflex.config.yamlfile import LocatedDocument, YamlError, load_yaml
from alertreflex.core.container_policy import selector_problems
from alertreflex.core.index import ReflexIndex
from alertreflex.core.matchers import Matcher, MatcherError, MatchOp, parse_matcher, parse_matchers
from alertreflex.core.models import Trigger
from alertreflex.core.paths import Path, format_path
from alertreflex.core.templates import TemplateError, TemplateTree, names_used, secrets_named
from alertreflex.core.timeintervals import NamedTimeInterval
from alertreflex.core.url_templates import url_warnings


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        # Line 0: the problem is the file itself (missing, unreadable, empty).
        where = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        message = f"warning: {self.message}" if self.warning else self.message
        return f"{where} {self.path}: {message}" if self.path else f"{where} {message}"


class ConfigError(ValueError):
    """The config is invalid; ``problems`` lists every problem found, ``warnings``
    what would have been warned about had it been valid."""

    def __init__(self, problems: Sequence[Problem], warnings: Sequence[Problem] = ()) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Step:
    action: str
    params: TemplateTree
    name: str
    continue_on_error: bool = False
    reversible: bool = False
    # Set on the engine-made steps that undo on_firing[undo_of] (resolved and restore runs).
    undo_of: int | None = None


@dataclass(frozen=True)
class Reflex:
    name: str
    team: str
    description: str
    matchers: tuple[Matcher, ...]
    on_firing: tuple[Step, ...]
    on_resolved: tuple[Step, ...]
    cooldown: float
    max_concurrent: int
    dry_run: bool
    resolve_delay: float
    source: str  # "file:line", for messages
    active_time_intervals: tuple[NamedTimeInterval, ...] = ()
    mute_time_intervals: tuple[NamedTimeInterval, ...] = ()
    storm_guard: StormGuard | None = None
    max_failures: int | None = None
    delay: float = 0.0
    cancel_on_resolve: bool = False
    approval_required: bool = False
    approval_timeout: float = 3600.0
    undo_steps: tuple[Step, ...] = field(init=False)

    def __post_init__(self) -> None:
        # The reversible firing steps, undone last to first, before any on_resolved step.
        undo = tuple(
            replace(s, name=f"restore {s.name}", continue_on_error=True, undo_of=k)
            for k, s in reversed(list(enumerate(self.on_firing)))
            if s.reversible
        )
        object.__setattr__(self, "undo_steps", undo)

    def outside_time(self, when: datetime) -> str | None:
        """Why a firing run at ``when`` may not run, or None if it may."""
        if self.active_time_intervals and not any(
            t.contains(when) for t in self.active_time_intervals
        ):
            names = ", ".join(t.name for t in self.active_time_intervals)
            return f"outside active_time_intervals ({names})"
        for t in self.mute_time_intervals:
            if t.contains(when):
                return f"inside mute_time_intervals ({t.name})"
        return None

    def steps(self, trigger: Trigger) -> tuple[Step, ...]:
        if trigger is Trigger.FIRING:
            return self.on_firing
        if trigger is Trigger.RESOLVED:
            return self.undo_steps + self.on_resolved
        return self.undo_steps


@dataclass
class Config:
    settings: Settings
    reflexes: dict[str, Reflex]
    files: list[str]
    secrets: dict[str, str] = field(default_factory=dict)
    # sha256 of each file as read: how `alertreflex sync` tells that a reload took its file.
    digests: dict[str, str] = field(default_factory=dict)
    webhook_credentials: tuple[str, str] | None = None  # ("bearer", token) or ("basic", user:pw)
    users: dict[str, ApiUser] | None = None  # settings.auth, read; None: no auth configured
    warnings: list[Problem] = field(default_factory=list)  # Problem.warning is set
    container_tls: LoadedTls | None = None  # settings.containers.tls, read
    index: ReflexIndex[Reflex] = field(init=False)
    containers: ContainerAccess = field(init=False)

    def __post_init__(self) -> None:
        self.index = ReflexIndex(self.reflexes.values(), self.settings.ownership_label)
        self.containers = container_access(self.settings, self.container_tls)


def config_files(path: str | os.PathLike[str]) -> list[FsPath]:
    """The files a config path stands for: itself, or a directory's *.yml/*.yaml sorted."""
    p = FsPath(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix in (".yml", ".yaml") and f.is_file())
    return [p]


def load_config(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    action_params: Mapping[str, type[BaseModel]],
    *,
    read_secrets: bool = True,
    owners: Mapping[str, str] | None = None,
) -> Config:
    """Load, merge and validate; raise ConfigError listing every problem.

    ``action_params`` maps each known action type to its parameter model. ``owners``
    maps a file (as given in ``paths``) to the team that owns it: its reflexes get
    that team when they name none and are refused when they name another, and it
    may not hold settings (``alertreflex sync``).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files: list[FsPath] = []
    problems: list[Problem] = []
    for p in paths:
        if not FsPath(p).exists():
            problems.append(Problem(str(p), 0, "", "no such file or directory"))
            continue
        found = config_files(p)
        if not found:
            problems.append(Problem(str(p), 0, "", "directory holds no *.yml or *.yaml file"))
        files.extend(found)
    loader = _Loader(action_params, problems, owners or {})
    # Settings first (they may sit in any file), then reflexes, which depend on them.
    parsed = [loaded for f in files if (loaded := loader.parse_file(f)) is not None]
    for name, doc, reflexes in parsed:
        loader.reflexes_of(name, doc, reflexes)
    settings = loader.settings or Settings()
    cfg = Config(
        settings=settings,
        reflexes=loader.reflexes,
        files=[str(f) for f in files],
        digests=loader.digests,
        warnings=loader.warnings,
    )
    if read_secrets:
        loader.read_secrets(cfg)
    if problems:
        raise ConfigError(problems, loader.warnings)
    return cfg


class _Loader:
    def __init__(
        self,
        action_params: Mapping[str, type[BaseModel]],
        problems: list[Problem],
        owners: Mapping[str, str],
    ) -> None:
        self.action_params = action_params
        self.problems = problems
        self.warnings: list[Problem] = []
        self.owners = owners
        self.digests: dict[str, str] = {}
        self.settings: Settings | None = None
        self.settings_file = ""
        self.settings_doc: LocatedDocument | None = None  # for the lines of secret settings
        self.reflexes: dict[str, Reflex] = {}
        self.intervals: dict[str, tuple[NamedTimeInterval, str]] = {}  # name -> (it, where)
        self.team_hinted: set[str] = set()  # files told why a reflex may lack its team

    def _problem(self, file: str, doc: LocatedDocument, path: Path, message: str) -> None:
        self.problems.append(Problem(file, doc.line_of(path), format_path(path), message))

    def parse_file(self, f: FsPath) -> tuple[str, LocatedDocument, list[Any]] | None:
        name = str(f)
        try:
            raw = f.read_bytes()
            self.digests[name] = hashlib.sha256(raw).hexdigest()
            doc = load_yaml(raw.decode("utf-8"))
        except YamlError as exc:
            self.problems.append(Problem(name, exc.line, "", exc.message))
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(name, 0, "", f"cannot read: {exc}"))
            return None
        if doc.data is None:
            return None  # an empty file is a valid, empty config
        data = doc.data
        if not isinstance(data, dict):
            self._problem(name, doc, (), "expected a mapping with 'reflexes' and/or 'settings'")
            return None
        for key in data:
            if key not in ConfigFile.model_fields:
                self._problem(name, doc, (key,), unknown_field(str(key), ConfigFile.model_fields))
        # Settings and each reflex are validated on their own, so that one broken
        # reflex does not hide the problems of the others.
        raw_settings = data.get("settings")
        if raw_settings is not None and name in self.owners:
            self._problem(
                name,
                doc,
                ("settings",),
                f"team {self.owners[name]!r}'s files may not hold settings: they belong "
                "to the operator's config",
            )
        elif raw_settings is not None:
            try:
                settings = Settings.model_validate(raw_settings)
            except ValidationError as exc:
                self._pydantic_problems(name, doc, ("settings",), exc, Settings)
            else:
                if self.settings is not None:
                    self._problem(
                        name,
                        doc,
                        ("settings",),
                        f"settings are already defined in {self.settings_file}; "
                        "keep them in one file",
                    )
                else:
                    self.settings, self.settings_file = settings, name
                    self.settings_doc = doc
        self._time_intervals(name, doc, data.get("time_intervals"))
        reflexes = data.get("reflexes", [])
        if not isinstance(reflexes, list):
            self._problem(name, doc, ("reflexes",), "must be a list of reflexes")
            reflexes = []
        return name, doc, reflexes

    def _time_intervals(self, file: str, doc: LocatedDocument, raw: Any) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            self._problem(file, doc, ("time_intervals",), "must be a list of named intervals")
            return
        for i, item in enumerate(raw):
            at: Path = ("time_intervals", i)
            try:
                ti = NamedTimeInterval.model_validate(item)
            except ValidationError as exc:
                self._pydantic_problems(file, doc, at, exc, NamedTimeInterval)
                continue
            if (other := self.intervals.get(ti.name)) is not None:
                self._problem(
                    file,
                    doc,
                    (*at, "name"),
                    f"time interval {ti.name!r} is not unique: also defined at {other[1]}",
                )
                continue
            self.intervals[ti.name] = (ti, f"{file}:{doc.line_of(at)}")

    def _interval_refs(
        self, file: str, doc: LocatedDocument, at: Path, key: str, names: list[str]
    ) -> tuple[NamedTimeInterval, ...]:
        found = []
        for j, name in enumerate(names):
            entry = self.intervals.get(name)
            if entry is None:
                known = ", ".join(sorted(self.intervals)) or "none are defined"
                self._problem(
                    file,
                    doc,
                    (*at, key, j),
                    f"unknown time interval {name!r} (time_intervals: {known})",
                )
            else:
                found.append(entry[0])
        return tuple(found)

    def _pydantic_problems(
        self,
        file: str,
        doc: LocatedDocument,
        at: Path,
        exc: ValidationError,
        model: type[BaseModel],
    ) -> None:
        for err in exc.errors():
            message = _pydantic_message(err, model)
            if model is ReflexConfig and err["type"] == "missing" and err["loc"] == ("team",):
                message += self._team_file_hint(file)
            self._problem(file, doc, (*at, *err["loc"]), message)

    def _team_file_hint(self, file: str) -> str:
        """Why a reflex may lack its team, said at the first such reflex of a file:
        the files of an ownership repository get theirs from their directory."""
        if file in self.team_hinted:
            return ""
        self.team_hinted.add(file)
        resolved = FsPath(file).resolve()
        teams = next((d for d in resolved.parents if d.name == "teams"), None)
        if teams is not None and len(resolved.relative_to(teams).parts) > 1:
            team = resolved.relative_to(teams).parts[0]
            return (
                f": this looks like a team file of an ownership repository (teams/{team}/ "
                f"gives its reflexes team {team!r}); check it with `alertreflex sync "
                "--repo REPO --check` (docs/ownership.md)"
            )
        return (
            " (only the reflexes of a team file in an ownership repository may leave "
            "it out: check those with `alertreflex sync --repo REPO --check`, "
            "docs/ownership.md)"
        )

    def reflexes_of(self, name: str, doc: LocatedDocument, reflexes: list[Any]) -> None:
        for i, raw in enumerate(reflexes):
            at: Path = ("reflexes", i)
            if not isinstance(raw, dict):
                self._problem(name, doc, at, "a reflex must be a mapping")
                continue
            owner = self.owners.get(name)
            if owner is not None:
                claimed = raw.get("team")
                if claimed is None:
                    raw = {**raw, "team": owner}
                elif claimed != owner:
                    self._problem(
                        name,
                        doc,
                        (*at, "team"),
                        f"reflex {raw.get('name')!r} claims team {claimed!r}, but this file "
                        f"is team {owner!r}'s: a team may only define its own reflexes",
                    )
                    continue
                # Secrets are the operator's: a team's reflex that could name one could
                # send it anywhere.
                leaks = [p for p, used in names_used(raw) if used == "secrets"]
                for path in leaks:
                    self._problem(
                        name,
                        doc,
                        (*at, *path),
                        "team files may not use secrets: they are the operator's, for "
                        "reflexes in alertreflex's own config",
                    )
                if leaks:
                    continue
            else:
                known = (self.settings or Settings()).secrets
                for path, secret in secrets_named(raw):
                    if secret not in known:
                        self._problem(
                            name,
                            doc,
                            (*at, *path),
                            f"unknown secret {secret!r}; settings.secrets has "
                            + (", ".join(sorted(known)) or "none"),
                        )
            try:
                rc = ReflexConfig.model_validate(raw)
            except ValidationError as exc:
                self._pydantic_problems(name, doc, at, exc, ReflexConfig)
                # Still check what can be checked, so every problem shows at once.
                self._matchers(name, doc, at, raw.get("match"), str(raw.get("team", "")))
                for key in ("on_firing", "on_resolved"):
                    for j, step in enumerate(_list_of_dicts(raw.get(key))):
                        self._step(name, doc, (*at, key, j), step, str(raw.get("team", "")))
                continue
            reflex = self._reflex(name, doc, at, rc)
            if reflex is None:
                continue
            if (other := self.reflexes.get(rc.name)) is not None:
                self._problem(
                    name,
                    doc,
                    (*at, "name"),
                    f"duplicate reflex name {rc.name!r}, first defined at {other.source}",
                )
                continue
            self.reflexes[rc.name] = reflex

    def _reflex(self, file: str, doc: LocatedDocument, at: Path, rc: ReflexConfig) -> Reflex | None:
        before = len(self.problems)
        matchers = self._matchers(file, doc, at, rc.match, rc.team)
        steps = {
            key: tuple(
                s
                for i, raw in enumerate(getattr(rc, key))
                if (s := self._step(file, doc, (*at, key, i), raw, rc.team)) is not None
            )
            for key in ("on_firing", "on_resolved")
        }
        active = self._interval_refs(
            file, doc, at, "active_time_intervals", rc.active_time_intervals
        )
        mute = self._interval_refs(file, doc, at, "mute_time_intervals", rc.mute_time_intervals)
        if len(self.problems) > before:
            return None
        return Reflex(
            active_time_intervals=active,
            mute_time_intervals=mute,
            name=rc.name,
            team=rc.team,
            description=rc.description,
            matchers=tuple(matchers),
            on_firing=steps["on_firing"],
            on_resolved=steps["on_resolved"],
            cooldown=rc.cooldown,
            max_concurrent=rc.max_concurrent,
            dry_run=rc.dry_run,
            resolve_delay=rc.resolve_delay,
            storm_guard=rc.storm_guard,
            max_failures=rc.max_failures,
            delay=rc.delay,
            cancel_on_resolve=rc.cancel_on_resolve,
            approval_required=rc.approval == "required",
            approval_timeout=rc.approval_timeout,
            source=f"{file}:{doc.line_of(at)}",
        )

    def _matchers(
        self, file: str, doc: LocatedDocument, at: Path, match: Any, team: str
    ) -> list[Matcher]:
        out: list[Matcher] = []
        if isinstance(match, str):
            try:
                # YAML block scalars add a trailing newline that Alertmanager's parser
                # would reject; surrounding whitespace means nothing here.
                out = parse_matchers(match.strip())
            except MatcherError as exc:
                self._problem(file, doc, (*at, "match"), str(exc))
        elif isinstance(match, list):
            for j, text in enumerate(match):
                if not isinstance(text, str):
                    continue  # reported by the schema
                try:
                    out.append(parse_matcher(text))
                except MatcherError as exc:
                    self._problem(file, doc, (*at, "match", j), str(exc))
        label = (self.settings or Settings()).ownership_label
        for m in out:
            if m.name == label and m.op is MatchOp.EQUAL and m.value != team:
                self._problem(
                    file,
                    doc,
                    (*at, "match"),
                    f"matcher {m} can never match: reflex of team {team!r} only sees "
                    f"alerts with {label}={team!r}",
                )
        return out

    def _step(
        self, file: str, doc: LocatedDocument, at: Path, raw: dict[str, Any], team: str
    ) -> Step | None:
        kinds = [k for k in raw if k not in STEP_KEYS]
        actions = [k for k in kinds if k in self.action_params]
        misspelt = [k for k in kinds if k not in actions] if len(actions) == 1 else []
        for key in misspelt:
            # One action beside a misspelt step key (`nmae:`), not several actions.
            self._problem(file, doc, (*at, key), unknown_field(str(key), STEP_KEYS))
        if misspelt:
            kinds = actions
        if len(kinds) != 1:
            known = ", ".join(sorted(self.action_params))
            what = "no action" if not kinds else f"several actions ({', '.join(kinds)})"
            self._problem(
                file,
                doc,
                at,
                f"a step needs exactly one action, found {what}; action types: {known}",
            )
            return None
        kind = kinds[0]
        model = self.action_params.get(kind)
        if model is None:
            known = ", ".join(sorted(self.action_params))
            close = difflib.get_close_matches(str(kind), sorted(self.action_params), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self._problem(
                file, doc, (*at, kind), f"unknown action type {kind!r}{hint}; known: {known}"
            )
            return None
        params = raw[kind]
        if not isinstance(params, dict):
            self._problem(file, doc, (*at, kind), "action parameters must be a mapping")
            return None
        try:
            model.model_validate(params)
        except ValidationError as exc:
            for err in exc.errors():
                self._problem(file, doc, (*at, kind, *err["loc"]), _pydantic_message(err, model))
            return None
        try:
            tree = TemplateTree(params)
        except TemplateError as exc:
            self._problem(file, doc, (*at, kind, *exc.path), exc.reason)
            return None
        if not self._container_selector(file, doc, (*at, kind), params, team) or misspelt:
            return None
        for where, message in url_warnings(params, (*at, kind)):
            self.warnings.append(
                Problem(file, doc.line_of(where), format_path(where), message, warning=True)
            )
        name = raw.get("name", kind)
        cont = raw.get("continue_on_error", False)
        if not isinstance(name, str) or not isinstance(cont, bool):
            self._problem(
                file, doc, at, "step 'name' must be a string and 'continue_on_error' a boolean"
            )
            return None
        return Step(
            action=kind,
            params=tree,
            name=name,
            continue_on_error=cont,
            reversible=bool(getattr(model, "reversible", False)),
        )

    def _container_selector(
        self, file: str, doc: LocatedDocument, at: Path, params: dict[str, Any], team: str
    ) -> bool:
        """Refuse a ``container: {labels: ...}`` target (of any action type) that can
        never select a container this reflex may act on; False if there was a problem."""
        target = params.get("container")
        if not isinstance(target, dict) or not isinstance(target.get("labels"), dict):
            return True
        access = container_access(self.settings or Settings())
        found = selector_problems(
            target["labels"],
            team=team,
            ownership_label=access.ownership_label,
            match=access.match,
        )
        for key, message in found:
            self._problem(file, doc, (*at, "container", "labels", key), message)
        return not found

    def read_secrets(self, cfg: Config) -> None:
        where = self.settings_file or (cfg.files[0] if cfg.files else "config")
        for name, ref in cfg.settings.secrets.items():
            at: Path = ("settings", "secrets", name)
            if ref.env is not None:
                value = os.environ.get(ref.env)
                if value is None:
                    self._secret_problem(
                        where, (*at, "env"), f"environment variable {ref.env} is not set"
                    )
                    continue
            else:
                value = self._read_file(where, (*at, "file"), ref.file or "")
                if value is None:
                    continue
            cfg.secrets[name] = value
        auth = cfg.settings.webhook_auth
        if auth and auth.bearer_token_file:
            token = self._read_file(
                where, ("settings", "webhook_auth", "bearer_token_file"), auth.bearer_token_file
            )
            if token is not None:
                cfg.webhook_credentials = ("bearer", token)
        elif auth and auth.basic_auth:
            pw = self._read_file(
                where,
                ("settings", "webhook_auth", "basic_auth", "password_file"),
                auth.basic_auth.password_file,
            )
            if pw is not None:
                cfg.webhook_credentials = ("basic", f"{auth.basic_auth.username}:{pw}")
        if cfg.settings.containers.tls is not None:
            cfg.container_tls = load_tls(
                cfg.settings.containers.tls,
                ("settings", "containers", "tls"),
                lambda path, filename: self._read_bytes(where, path, filename),
                lambda path, message: self._secret_problem(where, path, message),
            )
            cfg.containers = container_access(cfg.settings, cfg.container_tls)
        if cfg.settings.auth is not None:
            # users.py names its settings as text (settings.auth.users[0].token_file).
            cfg.users = read_users(
                cfg.settings.auth,
                lambda path, filename: self._read_file(where, _parse_path(path), filename),
                lambda path, message: self._secret_problem(where, _parse_path(path), message),
            )

    def _secret_problem(self, where: str, path: Path, message: str) -> None:
        # The settings were parsed from settings_doc, so every path into them has a line.
        line = self.settings_doc.line_of(path) if self.settings_doc is not None else 0
        self.problems.append(Problem(where, line, format_path(path), message))

    def _read_bytes(self, where: str, path: Path, filename: str) -> bytes | None:
        try:
            return FsPath(filename).read_bytes()
        except OSError as exc:
            self._secret_problem(where, path, f"cannot read {filename}: {exc.strerror}")
            return None

    def _read_file(self, where: str, path: Path, filename: str) -> str | None:
        try:
            value = FsPath(filename).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            self._secret_problem(where, path, f"cannot read {filename}: {exc.strerror}")
            return None
        if not value:
            self._secret_problem(where, path, f"{filename} is empty")
            return None
        return value


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_path(text: str) -> Path:
    """``settings.auth.users[0].name`` -> ``("settings", "auth", "users", 0, "name")``."""
    return tuple(int(index) if index else key for key, index in _PATH_PART.findall(text))


def _list_of_dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _pydantic_message(err: Mapping[str, Any], model: type[BaseModel] | None = None) -> str:
    """A pydantic error in the loader's words; with the ``model`` validated, an
    unknown field names the nearest known one."""
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err.get("type") == "extra_forbidden":
        loc = tuple(err.get("loc", ()))
        known = _field_names_at(model, loc[:-1]) if model is not None and loc else None
        return unknown_field(str(loc[-1]), known) if loc and known else "unknown field"
    if err.get("type") == "missing":
        return "required field is missing"
    return msg


MAX_LISTED_FIELDS = 10  # beyond this, listing every known field says too much


def unknown_field(key: str, known: Iterable[str]) -> str:
    """ "unknown field", with the nearest of the ``known`` names when one is close
    (`on_resolve` -> did you mean 'on_resolved'?), or all of them when they are few."""
    names = sorted(set(known))
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f"unknown field (did you mean {close[0]!r}?)"
    if names and len(names) <= MAX_LISTED_FIELDS:
        return f"unknown field (known: {', '.join(names)})"
    return "unknown field"


def _field_names_at(tp: Any, loc: Sequence[Any]) -> list[str] | None:
    """The keys a config may use where pydantic's ``loc`` points inside ``tp``: the
    fields of the model found there, by alias too; None if no model is there."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _field_names_at(typing.get_args(tp)[0], loc)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            # pydantic names the member of a union in loc when it tried several.
            named = bool(loc) and loc[0] == getattr(arg, "__name__", None)
            found = _field_names_at(arg, loc[1:] if named else loc)
            if found is not None:
                return found
        return None
    is_model = isinstance(tp, type) and issubclass(tp, BaseModel)
    if not loc:
        return _model_keys(tp) if is_model else None
    head, rest = loc[0], loc[1:]
    if is_model:
        by_key = {k: info for k, info in _model_fields(tp)}
        info = by_key.get(head) if isinstance(head, str) else None
        return _field_names_at(info.annotation, rest) if info is not None else None
    args = typing.get_args(tp)
    if origin in (list, tuple, Sequence) and isinstance(head, int) and args:
        return _field_names_at(args[0], rest)
    if origin in (dict, Mapping) and isinstance(head, str) and len(args) == 2:
        return _field_names_at(args[1], rest)
    return None


def _model_fields(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """(key, field) for every key a config may write: the alias, and the name where
    it is allowed too."""
    by_name = bool(model.model_config.get("populate_by_name"))
    out = []
    for name, info in model.model_fields.items():
        if info.alias:
            out.append((info.alias, info))
        if not info.alias or by_name:
            out.append((name, info))
    return out


def _model_keys(model: type[BaseModel]) -> list[str]:
    return [key for key, _info in _model_fields(model)]
