"""The loaded workspace: lookups by key, policy choice and priority arithmetic."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import BaseModel

from opsdesk.calendars import BusinessCalendar
from opsdesk.errors import InvalidInput
from opsdesk.workspace.schema import (
    Conditions,
    ContactMethod,
    Escalation,
    LadderLevel,
    Pipeline,
    ServiceType,
    SlaPolicy,
    Stage,
    WorkspaceFile,
)

CHANNELS: tuple[str, ...] = ("portal", "widget", "api", "email", "inbound", "replay")
"""Where a request came from."""


def fingerprint(*parts: BaseModel) -> str:
    """Return a short hash of the given workspace parts, to notice when one changes."""
    text = json.dumps([part.model_dump(mode="json") for part in parts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TicketFacts:
    """The ticket fields that policy and escalation conditions can test."""

    service_type: str
    pipeline: str
    contact_method: str
    priority: str
    channel: str


def conditions_match(conditions: Conditions | None, facts: TicketFacts) -> bool:
    if conditions is None:
        return True
    for name, allowed in conditions.model_dump(exclude_none=True).items():
        if getattr(facts, name) not in allowed:
            return False
    return True


@dataclass(frozen=True)
class Workspace:
    spec: WorkspaceFile
    source: str
    calendars: dict[str, BusinessCalendar] = field(repr=False)
    defaulted_variables: dict[str, str] = field(default_factory=dict)
    """Path in the file (``subscriptions[0].url``) to the unset environment variable whose
    default the value took, so messages can name the variable to set."""

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def priority_keys(self) -> list[str]:
        """Priority keys from lowest to highest."""
        return [priority.key for priority in self.spec.priorities]

    @cached_property
    def _clock_definitions(self) -> dict[int, str]:
        return {}

    @cached_property
    def _service_types(self) -> dict[str, ServiceType]:
        return {service.key: service for service in self.spec.service_types}

    @cached_property
    def _pipelines(self) -> dict[str, Pipeline]:
        return {pipeline.key: pipeline for pipeline in self.spec.pipelines}

    @cached_property
    def _contact_methods(self) -> dict[str, ContactMethod]:
        return {method.key: method for method in self.spec.contact_methods}

    @cached_property
    def _policies(self) -> dict[str, SlaPolicy]:
        return {policy.key: policy for policy in self.spec.sla_policies}

    def service_type(self, key: str) -> ServiceType:
        try:
            return self._service_types[key]
        except KeyError:
            raise self._unknown("service type", key, self._service_types, "service_type") from None

    def pipeline(self, key: str) -> Pipeline:
        try:
            return self._pipelines[key]
        except KeyError:
            raise self._unknown("pipeline", key, self._pipelines, "pipeline") from None

    def contact_method(self, key: str) -> ContactMethod:
        try:
            return self._contact_methods[key]
        except KeyError:
            raise self._unknown(
                "contact method", key, self._contact_methods, "contact_method"
            ) from None

    def policy(self, key: str) -> SlaPolicy:
        try:
            return self._policies[key]
        except KeyError:
            raise self._unknown("SLA policy", key, self._policies, "sla_policy") from None

    def check_priority(self, key: str) -> str:
        if key not in self.priority_keys:
            raise self._unknown("priority", key, self.priority_keys, "priority")
        return key

    def stage(self, pipeline_key: str, stage_key: str) -> Stage:
        pipeline = self.pipeline(pipeline_key)
        for stage in pipeline.stages:
            if stage.key == stage_key:
                return stage
        stages = [stage.key for stage in pipeline.stages]
        raise self._unknown(f"stage in pipeline {pipeline_key}", stage_key, stages, "stage")

    def select_policy(self, facts: TicketFacts) -> SlaPolicy:
        """Return the first policy whose conditions match; the last one matches everything."""
        for policy in self.spec.sla_policies:
            if conditions_match(policy.when, facts):
                return policy
        return self.spec.sla_policies[-1]

    def policy_calendar_key(self, policy: SlaPolicy) -> str:
        return policy.calendar or self.spec.default_calendar

    def pipeline_calendar_key(self, pipeline: Pipeline) -> str:
        return pipeline.calendar or self.spec.default_calendar

    def calendar(self, key: str) -> BusinessCalendar:
        return self.calendars[key]

    @cached_property
    def sla_fingerprint(self) -> str:
        """Hash of everything SLA clocks are computed from: policies, pipelines, calendars."""
        parts: list[BaseModel] = [*self.spec.sla_policies, *self.spec.pipelines]
        parts += [self.spec.calendars[key] for key in sorted(self.spec.calendars)]
        return fingerprint(*parts)

    def clock_definition(
        self, *, policy: SlaPolicy | None = None, pipeline: Pipeline | None = None
    ) -> str:
        """Return the fingerprint of what one clock is computed from.

        That is its policy (ticket clocks) or pipeline (task clocks), and its calendar.
        """
        # Hashing a policy serialises it, which costs about as much as the rest of starting
        # a clock. A loaded workspace never changes, so the result for each of its own
        # policies and pipelines is kept.
        part: SlaPolicy | Pipeline
        if policy is not None:
            part, calendar_key = policy, self.policy_calendar_key(policy)
            own = self._policies.get(policy.key) is policy
        else:
            assert pipeline is not None, "a clock definition needs a policy or a pipeline"
            part, calendar_key = pipeline, self.pipeline_calendar_key(pipeline)
            own = self._pipelines.get(pipeline.key) is pipeline
        if own and id(part) in self._clock_definitions:
            return self._clock_definitions[id(part)]
        definition = f"{fingerprint(part)}:{fingerprint(self.spec.calendars[calendar_key])}"
        if own:
            self._clock_definitions[id(part)] = definition
        return definition

    def raise_priority(self, priority: str, steps: int = 1) -> str:
        """Return the priority `steps` above `priority`, stopping at the highest."""
        index = self.priority_keys.index(priority)
        return self.priority_keys[min(index + steps, len(self.priority_keys) - 1)]

    def escalations_for(self, on: str, metric: str, facts: TicketFacts) -> list[Escalation]:
        return [
            escalation
            for escalation in self.spec.escalations
            if escalation.on == on
            and metric in escalation.metrics
            and conditions_match(escalation.when, facts)
        ]

    def ladder_levels(self, metric: str, facts: TicketFacts) -> list[tuple[str, LadderLevel]]:
        """Return (id, level) of every ladder level that applies to a clock of `metric`.

        The id is ``escalation_key.level_key``, stable across restarts and file edits that
        keep the keys.
        """
        return [
            (f"{escalation.key}.{level.key}", level)
            for escalation in self.spec.escalations
            if escalation.levels is not None
            and metric in escalation.metrics
            and conditions_match(escalation.when, facts)
            for level in escalation.levels
        ]

    def ladder_level(self, level_id: str) -> tuple[Escalation, LadderLevel] | None:
        escalation_key, _, level_key = level_id.partition(".")
        for escalation in self.spec.escalations:
            if escalation.key == escalation_key and escalation.levels is not None:
                for level in escalation.levels:
                    if level.key == level_key:
                        return escalation, level
        return None

    @staticmethod
    def _unknown(what: str, value: str, known: Iterable[str], field: str) -> InvalidInput:
        names = ", ".join(sorted(known))
        message = f"unknown {what} {value!r}; expected one of {names}"
        return InvalidInput(message, details=[{"field": field, "message": message}])
