"""Read a workspace file, check it completely and build the runtime `Workspace`.

Every problem is reported at once, one line each, as ``path: message (line N)`` so the
author can fix the whole file in one pass instead of one error per run.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opsdesk.automation.schema import TASK_FIELD_PREFIX, ConditionGroup, Rule
from opsdesk.calendars import BusinessCalendar, CalendarError
from opsdesk.errors import WorkspaceError
from opsdesk.events.catalog import EVENT_TYPES, TASK_EVENT_TYPES
from opsdesk.mail.templating import MAIL_KINDS, MailTemplateFault, check_mail_template
from opsdesk.workspace.runtime import CHANNELS, Workspace
from opsdesk.workspace.schema import (
    BODY_PATH_PATTERN,
    KEY_PATTERN,
    Conditions,
    InboundValue,
    TicketStatus,
    WorkspaceFile,
)
from opsdesk.yamlio import LoadedYaml, YamlError, format_path, load_yaml

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_PATTERN = re.compile(r"^whsec_[A-Za-z0-9+/]{24,}={0,2}$")

Path_ = tuple[str | int, ...]


class _Problems:
    def __init__(self, loaded: LoadedYaml) -> None:
        self.loaded = loaded
        self.lines: list[str] = []
        self.defaulted: dict[str, str] = {}
        """Path in the file to the unset environment variable whose default it took."""
        self.paths: list[Path_] = []

    def add(self, path: Sequence[str | int], message: str) -> None:
        self.paths.append(tuple(path))
        line = self.loaded.line_of(path)
        where = f" (line {line})" if line is not None else ""
        self.lines.append(f"{format_path(path)}: {message}{where}")


def load_workspace(path: str | Path, *, environ: dict[str, str] | None = None) -> Workspace:
    """Load and check the workspace file at `path`.

    Raises WorkspaceError listing every problem found.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise WorkspaceError(source, ["file not found; pass an existing workspace file"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(source, [f"cannot read the file: {exc}"]) from exc
    return parse_workspace(text, source=source, environ=environ)


def parse_workspace(
    text: str, *, source: str = "<workspace>", environ: dict[str, str] | None = None
) -> Workspace:
    try:
        loaded = load_yaml(text)
    except YamlError as exc:
        raise WorkspaceError(source, [str(exc)]) from exc
    if not isinstance(loaded.data, dict):
        raise WorkspaceError(source, ["the top level must be a mapping of keys such as name"])

    problems = _Problems(loaded)
    data = _substitute_env(
        loaded.data, (), environ if environ is not None else dict(os.environ), problems
    )
    unset_paths = set(problems.paths)

    try:
        spec = WorkspaceFile.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = _data_path(data, error["loc"])
            # A value with an unset variable was replaced by "", which may fail validation
            # too, so only the unset variable is reported there.
            if path not in unset_paths:
                problems.add(path, _describe(error))
        raise WorkspaceError(source, problems.lines) from exc
    if problems.lines:
        raise WorkspaceError(source, problems.lines)

    calendars = _build_calendars(spec, problems)
    _check_references(spec, problems)
    if problems.lines:
        raise WorkspaceError(source, problems.lines)
    return Workspace(
        spec=spec, source=source, calendars=calendars, defaulted_variables=problems.defaulted
    )


def _substitute_env(value: Any, path: Path_, environ: dict[str, str], problems: _Problems) -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in strings, so secrets stay out of the file."""
    if isinstance(value, dict):
        return {
            key: _substitute_env(item, (*path, key), environ, problems)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _substitute_env(item, (*path, index), environ, problems)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            problems.defaulted[format_path(path)] = name
            return default
        problems.add(
            path, f"environment variable {name} is not set; set it or write ${{{name}:-default}}"
        )
        return ""

    return _ENV_REFERENCE.sub(replace, value)


def _data_path(data: Any, loc: Sequence[str | int]) -> Path_:
    """Keep the parts of a Pydantic error location that exist in the file.

    Pydantic inserts the tag of a tagged union (``raise_priority``) into the location, and
    ``[key]`` after an invalid mapping key. Neither is a key of the file, so both are dropped.
    The last part is kept even when absent, because a missing key is reported at its own name.
    """
    path: list[str | int] = []
    current: Any = data
    for index, part in enumerate(loc):
        is_last = index == len(loc) - 1
        if part == "[key]":
            # Pydantic's marker for an invalid mapping key, which the path already ends with.
            continue
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif is_last:
            path.append(part)
    return tuple(path)


def error_path(data: Any, loc: Sequence[str | int]) -> str:
    """Name the place of a Pydantic error in `data` as the workspace file's errors do.

    For example ``when.all[0].field``: union tags and other parts that are not keys of
    `data` are left out.
    """
    return format_path(_data_path(data, loc))


def _describe(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == KEY_PATTERN:
        return (
            f"invalid key {value!r}: use lowercase letters, digits and underscores, "
            "starting with a letter (for example smart_home)"
        )
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == (
        BODY_PATH_PATTERN
    ):
        return (
            f"invalid body path {value!r}: write the keys from the top of the JSON body "
            "separated by dots, such as alert.id or alert.labels.0"
        )
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return message.removeprefix("Value error, ")
    if kind == "union_tag_not_found":
        return f"missing key {error.get('ctx', {}).get('discriminator', '')}"
    if kind == "string_pattern_mismatch" and error["loc"] == ("reference_prefix",):
        return f"invalid reference prefix {value!r}: use 1 to 6 uppercase letters, such as SR"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"unknown action {error.get('ctx', {}).get('tag')!r}; expected one of {expected}"
    if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
        return f"{message[0].lower()}{message[1:]} (got {value!r})"
    return f"{message[0].lower()}{message[1:]}"


def _build_calendars(spec: WorkspaceFile, problems: _Problems) -> dict[str, BusinessCalendar]:
    calendars: dict[str, BusinessCalendar] = {}
    for key, calendar in spec.calendars.items():
        try:
            calendars[key] = BusinessCalendar.from_mapping(calendar.calendar_mapping())
        except CalendarError as exc:
            message = str(exc)
            inner: Path_ = ()
            if exc.path is not None:
                message = message.removeprefix(f"{exc.path}: ")
                inner = _calendar_path(exc.path)
            problems.add(("calendars", key, *inner), message)
    return calendars


_CALENDAR_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _calendar_path(text: str) -> Path_:
    """Split a `CalendarError` path such as ``hours.mon[1]`` into ("hours", "mon", 1)."""
    return tuple(int(index) if index else name for index, name in _CALENDAR_PATH_PART.findall(text))


def _duplicates(keys: Iterable[str]) -> list[str]:
    return [key for key, count in Counter(keys).items() if count > 1]


def _check_unique(problems: _Problems, section: str, keys: list[str]) -> None:
    first_index: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key not in first_index:
            first_index[key] = index
            continue
        problems.add(
            (section, index, "key"),
            f"duplicate key {key!r}, already used by {section}[{first_index[key]}]; "
            f"each {section} entry needs its own key",
        )


def _check_references(spec: WorkspaceFile, problems: _Problems) -> None:
    priorities = [priority.key for priority in spec.priorities]
    teams = {team.key for team in spec.teams}
    pipelines = {pipeline.key: pipeline for pipeline in spec.pipelines}
    service_types = {service.key for service in spec.service_types}
    contact_methods = {method.key for method in spec.contact_methods}

    for section, keys in (
        ("priorities", priorities),
        ("contact_methods", [method.key for method in spec.contact_methods]),
        ("teams", [team.key for team in spec.teams]),
        ("pipelines", [pipeline.key for pipeline in spec.pipelines]),
        ("service_types", [service.key for service in spec.service_types]),
        ("sla_policies", [policy.key for policy in spec.sla_policies]),
        ("escalations", [escalation.key for escalation in spec.escalations]),
        ("subscriptions", [subscription.key for subscription in spec.subscriptions]),
    ):
        _check_unique(problems, section, keys)

    def expect(path: Path_, value: str | None, known: Iterable[str], what: str) -> None:
        known_list = sorted(set(known))
        if value is None or value in known_list:
            return
        if known_list:
            problems.add(path, f"unknown {what} {value!r}; expected one of {', '.join(known_list)}")
        else:
            problems.add(path, f"unknown {what} {value!r}; the file defines none, so add it")

    expect(("default_calendar",), spec.default_calendar, spec.calendars, "calendar")
    expect(("default_priority",), spec.default_priority, priorities, "priority")

    for index, pipeline in enumerate(spec.pipelines):
        base: Path_ = ("pipelines", index)
        expect((*base, "team"), pipeline.team, teams, "team")
        expect((*base, "calendar"), pipeline.calendar, spec.calendars, "calendar")
        stage_keys = [stage.key for stage in pipeline.stages]
        for key in _duplicates(stage_keys):
            problems.add((*base, "stages"), f"duplicate stage key {key!r}")
        if not any(stage.completes for stage in pipeline.stages):
            problems.add((*base, "stages"), "no stage has completes: true, so no task could finish")
        if pipeline.stages[0].completes:
            problems.add(
                (*base, "stages", 0),
                "the first stage is where tasks start; it cannot complete them",
            )
        if pipeline.operational_sla is not None:
            _check_priority_table(
                problems,
                (*base, "operational_sla", "targets"),
                pipeline.operational_sla.targets,
                priorities,
            )

    for index, service in enumerate(spec.service_types):
        base = ("service_types", index)
        expect((*base, "pipeline"), service.pipeline, pipelines, "pipeline")
        for key in _duplicates([task.key for task in service.tasks]):
            problems.add((*base, "tasks"), f"duplicate task key {key!r}")
        for task_index, task in enumerate(service.tasks):
            expect((*base, "tasks", task_index, "pipeline"), task.pipeline, pipelines, "pipeline")

    known_values = {
        "service_type": service_types,
        "pipeline": set(pipelines),
        "contact_method": contact_methods,
        "priority": set(priorities),
        "channel": set(CHANNELS),
    }

    def check_conditions(path: Path_, conditions: Conditions | None) -> None:
        if conditions is None:
            return
        for field, values in conditions.model_dump(exclude_none=True).items():
            for value_index, value in enumerate(values):
                expect(
                    (*path, field, value_index), value, known_values[field], field.replace("_", " ")
                )

    for index, policy in enumerate(spec.sla_policies):
        base = ("sla_policies", index)
        check_conditions((*base, "when"), policy.when)
        expect((*base, "calendar"), policy.calendar, spec.calendars, "calendar")
        _check_priority_table(problems, (*base, "targets"), policy.targets, priorities)
    last = len(spec.sla_policies) - 1
    if spec.sla_policies[last].when is not None:
        problems.add(
            ("sla_policies", last, "when"),
            "the last policy must have no conditions, so that every ticket gets a policy",
        )

    for index, escalation in enumerate(spec.escalations):
        base = ("escalations", index)
        check_conditions((*base, "when"), escalation.when)
        steps: list[tuple[Path_, Any]] = [
            ((*base, "actions", action_index), action)
            for action_index, action in enumerate(escalation.actions or [])
        ]
        for level_index, level in enumerate(escalation.levels or []):
            steps += [
                ((*base, "levels", level_index, "actions", action_index), action)
                for action_index, action in enumerate(level.actions)
            ]
        for path, action in steps:
            match action.action:
                case "set_priority":
                    expect((*path, "priority"), action.priority, priorities, "priority")
                case "reassign":
                    if (action.team is None) == (action.user is None):
                        problems.add(path, "reassign needs exactly one of team or user")
                    expect((*path, "team"), action.team, teams, "team")
                case "notify":
                    if action.role is None and action.team is None and action.user is None:
                        problems.add(path, "notify needs a role, a team or a user")
                    expect((*path, "team"), action.team, teams, "team")

    _check_rules(spec, problems)
    _check_inbound(spec, problems)
    _check_mail(spec, problems)

    for index, subscription in enumerate(spec.subscriptions):
        base = ("subscriptions", index)
        for event_index, event_type in enumerate(subscription.events):
            if event_type != "*" and event_type not in EVENT_TYPES:
                problems.add(
                    (*base, "events", event_index),
                    f"unknown event type {event_type!r}; "
                    f"expected * or one of {', '.join(EVENT_TYPES)}",
                )
        if (
            subscription.kind == "webhook"
            and subscription.url is not None
            and not subscription.secret
        ):
            problems.add(
                (*base, "secret"),
                "missing secret: a webhook receiver needs it to verify signatures; "
                "write secret: ${VARIABLE} and set the variable to whsec_ and base64",
            )
        if subscription.secret is not None:
            if subscription.kind == "slack":
                problems.add(
                    (*base, "secret"), "slack subscriptions are not signed; remove the secret"
                )
            elif not _SECRET_PATTERN.match(subscription.secret):
                problems.add(
                    (*base, "secret"),
                    "invalid secret: expected whsec_ followed by at least 24 base64 characters",
                )


def _check_mail(spec: WorkspaceFile, problems: _Problems) -> None:
    """Check that mail templates name known kinds, compile, and render with sample values."""
    for kind, template in spec.mail.templates.items():
        base: Path_ = ("mail", "templates", kind)
        if kind not in MAIL_KINDS:
            problems.add(
                base, f"unknown mail kind {kind!r}; expected one of {', '.join(MAIL_KINDS)}"
            )
            continue
        for part in ("subject", "body"):
            source = getattr(template, part)
            if source is None:
                continue
            try:
                check_mail_template(part, source, reference_prefix=spec.reference_prefix)
            except MailTemplateFault as exc:
                problems.add((*base, part), str(exc))


INBOUND_RESERVED_KEY = "email"
"""POST /api/v1/inbound/email is the e-mail intake, so no inbound source may take its key."""


def _check_inbound(spec: WorkspaceFile, problems: _Problems) -> None:
    """Check inbound sources: unique keys, secrets, and that constants name defined keys."""
    _check_unique(problems, "inbound", [source.key for source in spec.inbound])
    known = {
        "service_type": {service.key for service in spec.service_types},
        "contact_method": {method.key for method in spec.contact_methods},
        "priority": {priority.key for priority in spec.priorities},
        "status": {status.value for status in TicketStatus},
    }

    def check_value(path: Path_, mapping: InboundValue | None, what: str) -> None:
        if mapping is None or what not in known:
            return
        names = known[what]
        label = what.replace("_", " ")
        candidates: list[tuple[Path_, str]] = []
        if mapping.value is not None:
            candidates.append(((*path, "value"), mapping.value))
        if mapping.default is not None:
            candidates.append(((*path, "default"), mapping.default))
        for source_value, target in (mapping.map or {}).items():
            candidates.append(((*path, "map", source_value), target))
        for where, value in candidates:
            if value not in names:
                problems.add(
                    where, f"unknown {label} {value!r}; expected one of {', '.join(sorted(names))}"
                )

    for index, source in enumerate(spec.inbound):
        base: Path_ = ("inbound", index)
        if source.key == INBOUND_RESERVED_KEY:
            problems.add(
                (*base, "key"),
                f"the key {INBOUND_RESERVED_KEY!r} is taken: /api/v1/inbound/email is the "
                "e-mail intake; choose another key",
            )
        if source.secret is not None and not _SECRET_PATTERN.match(source.secret):
            problems.add(
                (*base, "secret"),
                "invalid secret: expected whsec_ followed by at least 24 base64 characters",
            )
        for name in ("service_type", "contact_method", "priority"):
            check_value((*base, "create", name), getattr(source.create, name), name)
        if source.update is not None:
            check_value((*base, "update", "status"), source.update.status, "status")
            check_value((*base, "update", "priority"), source.update.priority, "priority")


def _check_rules(spec: WorkspaceFile, problems: _Problems) -> None:
    """Check that rules name statuses, priorities, teams, templates and events that exist."""
    seen: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        base: Path_ = ("rules", index)
        if rule.key in seen:
            first = seen[rule.key]
            problems.add(
                (*base, "key"), f"duplicate rule key {rule.key!r}, first used at rules[{first}]"
            )
        seen.setdefault(rule.key, index)
        for path, message in _rule_problems(spec, rule):
            problems.add((*base, *path), message)


def rule_problems(spec: WorkspaceFile, rule: Rule) -> list[tuple[str, str]]:
    """Return (path, message) for every name in `rule` that `spec` does not define."""
    return [(format_path(path), message) for path, message in _rule_problems(spec, rule)]


def _rule_problems(spec: WorkspaceFile, rule: Rule) -> list[tuple[Path_, str]]:
    keys: dict[str, set[str]] = {
        "priority": {priority.key for priority in spec.priorities},
        "team": {team.key for team in spec.teams},
        "pipeline": {pipeline.key for pipeline in spec.pipelines},
        "service_type": {service.key for service in spec.service_types},
        "contact_method": {method.key for method in spec.contact_methods},
        "channel": set(CHANNELS),
        "status": {status.value for status in TicketStatus},
    }
    templates = {task.key for service in spec.service_types for task in service.tasks}
    keys |= {
        "task.stage": {stage.key for pipeline in spec.pipelines for stage in pipeline.stages},
        "task.pipeline": keys["pipeline"],
        "task.priority": keys["priority"],
        "task.team": keys["team"],
        "task.template": templates,
    }
    subscriptions = {subscription.key for subscription in spec.subscriptions}
    found: list[tuple[Path_, str]] = []

    def expect(path: Path_, value: str | None, known: set[str], what: str) -> None:
        if value is not None and value not in known:
            names = ", ".join(sorted(known))
            found.append((path, f"unknown {what} {value!r}; expected one of {names}"))

    def check_condition(path: Path_, condition: Any) -> None:
        if condition is None:
            return
        if isinstance(condition, ConditionGroup):
            for group in ("all", "any"):
                for index, part in enumerate(getattr(condition, group) or []):
                    check_condition((*path, group, index), part)
            return
        if condition.field.startswith(TASK_FIELD_PREFIX):
            problem = _task_field_problem(rule, condition.field)
            if problem is not None:
                found.append(((*path, "field"), problem))
        known = keys.get(condition.field)
        if known is None:
            return
        what = condition.field.replace("_", " ").replace(".", " ")
        if isinstance(condition.equals, str):
            expect((*path, "equals"), condition.equals, known, what)
        for operator, values in (("in", condition.in_), ("not_in", condition.not_in)):
            for index, value in enumerate(values or []):
                expect((*path, operator, index), value, known, what)

    for event_index, event_type in enumerate(rule.on or []):
        if event_type not in EVENT_TYPES:
            found.append(
                (
                    ("on", event_index),
                    f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}",
                )
            )
    check_condition(("when",), rule.when)
    for action_index, action in enumerate(rule.actions):
        path: Path_ = ("actions", action_index)
        match action.action:
            case "set_field":
                expect((*path, "value"), action.value, keys[action.field], action.field)
            case "assign":
                expect((*path, "team"), action.team, keys["team"], "team")
            case "create_task":
                expect((*path, "template"), action.template, templates, "task template")
            case "notify":
                if action.role is None and action.team is None and action.user is None:
                    found.append((path, "notify needs a role, a team or a user"))
                expect((*path, "team"), action.team, keys["team"], "team")
            case "call_webhook":
                expect((*path, "subscription"), action.subscription, subscriptions, "subscription")
    return found


def _task_field_problem(rule: Rule, field: str) -> str | None:
    """Explain why `field` can never have a value when `rule` runs, or return None."""
    task_events = ", ".join(TASK_EVENT_TYPES)
    if rule.on is None:
        return (
            f"{field} has no value in a rule that waits on a ticket status; task fields are "
            f"set only for events about a task ({task_events})"
        )
    if not any(event_type in TASK_EVENT_TYPES for event_type in rule.on):
        return (
            f"{field} has no value for {', '.join(rule.on)}; task fields are set only for "
            f"events about a task: add one of {task_events} to on"
        )
    return None


def _check_priority_table(
    problems: _Problems, path: Path_, table: dict[str, Any], priorities: list[str]
) -> None:
    known = ", ".join(dict.fromkeys(priorities))
    for key in table:
        if key not in priorities:
            problems.add((*path, key), f"unknown priority {key!r}; expected one of {known}")
    for key in priorities:
        if key not in table:
            problems.add(
                path, f"missing targets for priority {key!r}; every priority needs an entry"
            )
