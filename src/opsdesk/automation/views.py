"""HTTP routes to list, create, change and delete automation rules (admins only).

Rules from the workspace file are listed read-only; rules created here run after them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from opsdesk.automation.models import AutomationRule
from opsdesk.automation.registry import forget_rules
from opsdesk.automation.schema import Rule
from opsdesk.errors import Conflict, InvalidInput, NotFound
from opsdesk.web.deps import Admin, ContextDep, DatabaseDep, Staff
from opsdesk.web.responses import JSON_BODY_ERRORS, STAFF_ERRORS, error_responses
from opsdesk.workspace.loader import error_path, rule_problems

router = APIRouter(prefix="/api/v1", tags=["automation"], responses=error_responses(*STAFF_ERRORS))


class RuleView(BaseModel):
    key: str
    source: str = Field(description="workspace (read-only, from the file) or api")
    position: int
    definition: dict[str, Any]


def _view(rule: Rule, source: str, position: int) -> RuleView:
    return RuleView(
        key=rule.key,
        source=source,
        position=position,
        definition=rule.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


def _parse(ctx: ContextDep, body: dict[str, Any]) -> Rule:
    """Validate a rule like the workspace file does, naming each bad field."""
    try:
        rule = Rule.model_validate(body)
    except ValidationError as exc:
        details = [
            {
                # Named like the workspace file's errors, such as when.all[0].field.
                "field": error_path(body, error["loc"]) if error["loc"] else "body",
                "message": str(error["msg"]).removeprefix("Value error, "),
            }
            for error in exc.errors()
        ]
        raise InvalidInput("the rule is invalid", details=details) from exc
    problems = rule_problems(ctx.workspace.spec, rule)
    if problems:
        raise InvalidInput(
            "the rule names things the workspace does not have",
            details=[{"field": path, "message": message} for path, message in problems],
        )
    if any(existing.key == rule.key for existing in ctx.workspace.spec.rules):
        raise Conflict(f"rule {rule.key!r} is defined in the workspace file; choose another key")
    return rule


@router.get("/rules", response_model=list[RuleView])
async def list_rules(db: DatabaseDep, ctx: ContextDep, _user: Staff) -> list[RuleView]:
    """All rules in the order they run: the workspace file's, then the API's."""
    views = [_view(rule, "workspace", index) for index, rule in enumerate(ctx.workspace.spec.rules)]
    async with db.read() as session:
        rows = (
            await session.execute(
                select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)
            )
        ).scalars()
        views += [_view(Rule.model_validate(row.definition), "api", row.position) for row in rows]
    return views


@router.post(
    "/rules",
    status_code=201,
    response_model=RuleView,
    responses=error_responses(*JSON_BODY_ERRORS, 409),
)
async def create_rule(
    db: DatabaseDep,
    ctx: ContextDep,
    _user: Admin,
    body: dict[str, Any] = Body(...),  # noqa: B008
) -> RuleView:
    """Add a rule at the end of the API rules (or at `position` if given in the body)."""
    position = body.pop("position", None)
    rule = _parse(ctx, body)
    now = ctx.clock.now()
    try:
        async with db.transaction() as session:
            if position is None:
                last = (await session.execute(select(func.max(AutomationRule.position)))).scalar()
                position = (last or 0) + 1
            row = AutomationRule(
                key=rule.key,
                position=int(position),
                definition=rule.model_dump(mode="json", by_alias=True, exclude_none=True),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
    except IntegrityError as exc:
        raise Conflict(f"a rule with key {rule.key!r} already exists; change it with PUT") from exc
    forget_rules()
    return _view(rule, "api", row.position)


@router.put(
    "/rules/{key}",
    response_model=RuleView,
    responses=error_responses(*JSON_BODY_ERRORS, 404, 409),
)
async def replace_rule(
    key: str,
    db: DatabaseDep,
    ctx: ContextDep,
    _user: Admin,
    body: dict[str, Any] = Body(...),  # noqa: B008
) -> RuleView:
    position = body.pop("position", None)
    body.setdefault("key", key)
    rule = _parse(ctx, body)
    if rule.key != key:
        raise InvalidInput(
            "the key in the body differs from the key in the path; a rule's key cannot change"
        )
    async with db.transaction() as session:
        row = (
            await session.execute(select(AutomationRule).where(AutomationRule.key == key))
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no API rule {key!r}; rules from the workspace file change only there")
        row.definition = rule.model_dump(mode="json", by_alias=True, exclude_none=True)
        if position is not None:
            row.position = int(position)
        row.updated_at = ctx.clock.now()
    forget_rules()
    return _view(rule, "api", row.position)


@router.delete("/rules/{key}", status_code=204, responses=error_responses(404))
async def delete_rule(key: str, db: DatabaseDep, _user: Admin) -> Response:
    async with db.transaction() as session:
        row = (
            await session.execute(select(AutomationRule).where(AutomationRule.key == key))
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no API rule {key!r}; rules from the workspace file change only there")
        await session.delete(row)
    forget_rules()
    return Response(status_code=204)
