"""The lifecycle engine: data plus pure functions, no I/O.

The service layer loads a :class:`LifecycleSpec` and a :class:`TicketFacts` snapshot, asks the engine
what is allowed, and applies the :class:`TransitionPlan` it returns inside one database transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXECUTOR_ROLE = "executor"


class Branch(enum.StrEnum):
    MAIN = "main"
    APPROVAL = "approval"
    CUSTOMER = "customer"


class EntryAction(enum.StrEnum):
    COMPLETE = "complete"
    CLOSE = "close"
    ASSIGN_MEMBER = "assign_member"
    ASSIGN_ACTOR = "assign_actor"
    UNASSIGN = "unassign"


class Requirement(enum.StrEnum):
    EXECUTOR_SET = "executor_set"
    APPROVER_SET = "approver_set"
    WORKS_ENTERED = "works_entered"
    CHECKLISTS_DONE = "checklists_done"
    ACT_SIGNED = "act_signed"


@dataclass(frozen=True)
class StageSpec:
    id: int
    name: str
    entry_action: EntryAction | None = None
    entry_action_member_id: int | None = None
    requirements: tuple[Requirement, ...] = ()
    is_start: bool = False
    is_cancellation: bool = False


@dataclass(frozen=True)
class TransitionSpec:
    id: int
    from_stage_id: int
    to_stage_id: int
    label: str
    branch: Branch
    roles: frozenset[str] = frozenset()
    role_labels: tuple[tuple[str, str], ...] = ()
    set_status_id: int | None = None
    requires_comment: bool = False
    auto_after_seconds: int | None = None

    def label_for(self, role_codes: Iterable[str]) -> str:
        overrides = dict(self.role_labels)
        for code in sorted(role_codes):
            if code in overrides:
                return overrides[code]
        return self.label


@dataclass(frozen=True)
class LifecycleSpec:
    id: int
    stages: tuple[StageSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    start_status_id: int

    def stage(self, stage_id: int) -> StageSpec:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    @property
    def start_stage(self) -> StageSpec:
        return next(s for s in self.stages if s.is_start)

    def outgoing(self, stage_id: int) -> list[TransitionSpec]:
        return [t for t in self.transitions if t.from_stage_id == stage_id]

    def approval_stage_ids(self) -> frozenset[int]:
        return frozenset(t.from_stage_id for t in self.transitions if t.branch is Branch.APPROVAL)


@dataclass(frozen=True)
class ActorFacts:
    member_id: int
    role_ids: frozenset[int]
    role_codes: frozenset[str]
    is_staff: bool
    company_ids: frozenset[int]
    may_move_anywhere: bool = False  # the owner may move a ticket to any stage
    any_main_transition: bool = False  # dispatchers and admins fire any main-branch transition


@dataclass(frozen=True)
class TicketFacts:
    stage_id: int
    initiator_id: int
    company_id: int
    approver_member_id: int | None
    approver_role_id: int | None
    executor_ids: frozenset[int]
    works_count: int = 0
    checklists_done: bool = True
    act_signed: bool = False
    closed: bool = False


class TransitionRefused(Exception):
    """The actor may not fire this transition (HTTP 403)."""


class CommentRequired(Exception):
    """The transition needs a reason typed by the user (HTTP 422)."""


class RequirementFailed(Exception):
    def __init__(self, requirement: Requirement) -> None:
        super().__init__(requirement.value)
        self.requirement = requirement


def is_awaited_approver(ticket: TicketFacts, actor: ActorFacts) -> bool:
    """The ticket awaits this member, or one of their roles. A customer stands for a role only on
    their own companies' tickets: a customer role is shared by the customers of every company, and
    awaiting it must not make one company's ticket another's (``tickets.queries`` sees it the same)."""
    if ticket.approver_member_id == actor.member_id:
        return True
    if ticket.approver_role_id is None or ticket.approver_role_id not in actor.role_ids:
        return False
    return actor.is_staff or ticket.company_id in actor.company_ids


def _is_customer_party(ticket: TicketFacts, actor: ActorFacts) -> bool:
    if actor.is_staff:
        return False
    if ticket.initiator_id == actor.member_id:
        return True
    return "customer_admin" in actor.role_codes and ticket.company_id in actor.company_ids


def admits(transition: TransitionSpec, ticket: TicketFacts, actor: ActorFacts) -> bool:
    """Whether the transition's branch and roles admit this actor on this ticket."""
    if transition.branch is Branch.MAIN:
        if not actor.is_staff:
            return False
        if actor.any_main_transition or not transition.roles:
            return True
        matched = transition.roles & actor.role_codes
        if matched == {EXECUTOR_ROLE}:
            # An executor acts on the tickets assigned to them, whatever scopes a tenant grants.
            return actor.member_id in ticket.executor_ids
        return bool(matched)
    if transition.roles and not (transition.roles & actor.role_codes):
        return False
    match transition.branch:
        case Branch.APPROVAL:
            return is_awaited_approver(ticket, actor)
        case Branch.CUSTOMER:
            return _is_customer_party(ticket, actor)
    return False


def available_transitions(
    lifecycle: LifecycleSpec, ticket: TicketFacts, actor: ActorFacts
) -> list[TransitionSpec]:
    return [t for t in lifecycle.outgoing(ticket.stage_id) if admits(t, ticket, actor)]


RequirementCheck = Callable[[TicketFacts], bool]

REQUIREMENT_CHECKS: dict[Requirement, RequirementCheck] = {
    Requirement.EXECUTOR_SET: lambda t: bool(t.executor_ids),
    Requirement.APPROVER_SET: lambda t: t.approver_member_id is not None or t.approver_role_id is not None,
    Requirement.WORKS_ENTERED: lambda t: t.works_count > 0,
    Requirement.CHECKLISTS_DONE: lambda t: t.checklists_done,
    Requirement.ACT_SIGNED: lambda t: t.act_signed,
}


@dataclass(frozen=True)
class TransitionPlan:
    """What the service must write; computed without touching the database."""

    transition: TransitionSpec | None
    from_stage: StageSpec
    to_stage: StageSpec
    set_status_id: int | None
    entry_action: EntryAction | None
    executor_ids_after: frozenset[int]
    stamps: frozenset[str] = field(default_factory=frozenset)  # "completed_at", "closed_at"


def _executors_after(stage: StageSpec, ticket: TicketFacts, actor: ActorFacts | None) -> frozenset[int]:
    match stage.entry_action:
        case EntryAction.UNASSIGN:
            return frozenset()
        case EntryAction.ASSIGN_ACTOR if actor is not None:
            return ticket.executor_ids | {actor.member_id}
        case EntryAction.ASSIGN_MEMBER if stage.entry_action_member_id is not None:
            return ticket.executor_ids | {stage.entry_action_member_id}
    return ticket.executor_ids


def _stamps(stage: StageSpec) -> frozenset[str]:
    match stage.entry_action:
        case EntryAction.COMPLETE:
            return frozenset({"completed_at"})
        case EntryAction.CLOSE:
            return frozenset({"closed_at"})
    return frozenset()


def check_requirements(stage: StageSpec, ticket: TicketFacts) -> None:
    for requirement in stage.requirements:
        if not REQUIREMENT_CHECKS[requirement](ticket):
            raise RequirementFailed(requirement)


def plan_transition(
    lifecycle: LifecycleSpec,
    ticket: TicketFacts,
    actor: ActorFacts,
    transition_id: int,
    *,
    comment: str | None = None,
) -> TransitionPlan:
    """Check admission, comment and the target's requirements; return what to apply."""
    transition = next((t for t in lifecycle.outgoing(ticket.stage_id) if t.id == transition_id), None)
    if transition is None or not admits(transition, ticket, actor):
        raise TransitionRefused(transition_id)
    if transition.requires_comment and not (comment or "").strip():
        raise CommentRequired(transition_id)
    return _plan_along(lifecycle, ticket, transition, actor)


def _plan_along(
    lifecycle: LifecycleSpec, ticket: TicketFacts, transition: TransitionSpec, actor: ActorFacts | None
) -> TransitionPlan:
    target = lifecycle.stage(transition.to_stage_id)
    check_requirements(target, ticket)
    return TransitionPlan(
        transition=transition,
        from_stage=lifecycle.stage(ticket.stage_id),
        to_stage=target,
        set_status_id=transition.set_status_id,
        entry_action=target.entry_action,
        executor_ids_after=_executors_after(target, ticket, actor),
        stamps=_stamps(target),
    )


def plan_automatic(lifecycle: LifecycleSpec, ticket: TicketFacts, transition_id: int) -> TransitionPlan:
    """An ``auto_after`` transition fired by the system: no actor, requirements still apply."""
    transition = next((t for t in lifecycle.outgoing(ticket.stage_id) if t.id == transition_id), None)
    if transition is None or not transition.auto_after_seconds:
        raise TransitionRefused(transition_id)
    return _plan_along(lifecycle, ticket, transition, None)


def plan_move_to_stage(
    lifecycle: LifecycleSpec, ticket: TicketFacts, actor: ActorFacts, stage_id: int
) -> TransitionPlan:
    """The owner's override: any stage of the lifecycle, requirements still apply."""
    if not actor.may_move_anywhere:
        raise TransitionRefused(stage_id)
    try:
        target = lifecycle.stage(stage_id)
    except KeyError:
        raise TransitionRefused(stage_id) from None
    check_requirements(target, ticket)
    incoming_status = next(
        (t.set_status_id for t in lifecycle.transitions if t.to_stage_id == stage_id and t.set_status_id),
        None,
    )
    return TransitionPlan(
        transition=None,
        from_stage=lifecycle.stage(ticket.stage_id),
        to_stage=target,
        set_status_id=incoming_status,
        entry_action=target.entry_action,
        executor_ids_after=_executors_after(target, ticket, actor),
        stamps=_stamps(target),
    )
