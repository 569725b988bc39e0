"""The pure lifecycle engine (spec/domain.md §4 stages, §5 rules 1–3), without a database.

Every lifecycle, ticket and actor here is built by hand, so each test names exactly the facts the rule
depends on.
"""

from __future__ import annotations

import dataclasses

import pytest

from fixflow.workflow.engine import (
    REQUIREMENT_CHECKS,
    ActorFacts,
    Branch,
    CommentRequired,
    EntryAction,
    LifecycleSpec,
    Requirement,
    RequirementFailed,
    StageSpec,
    TicketFacts,
    TransitionRefused,
    TransitionSpec,
    admits,
    available_transitions,
    check_requirements,
    is_awaited_approver,
    plan_automatic,
    plan_move_to_stage,
    plan_transition,
)

# Companies
OWN, ALFA, BETA = 1, 100, 200
# Roles (ids)
R_OWNER, R_DISPATCHER, R_EXECUTOR, R_CUSTOMER, R_CADMIN, R_ENGINEER = 1, 2, 3, 4, 5, 6
# Stages
NEW, ASSIGNED, APPROVAL, WORKS_DONE, DONE, CLOSED, REFUSED, TAKEN, HANDED, CHECKED, SIGNED, CANCELLED = range(
    11, 23
)
# Statuses
S_NEW, S_WORK, S_APPROVAL, S_DONE, S_CLOSED = 501, 502, 503, 504, 505
# Members
OWNER, DISPATCHER, EXECUTOR, ENGINEER, INITIATOR, COLLEAGUE, CADMIN_A, CADMIN_B, CUSTOMER_B, HANDYMAN = (
    1001,
    1002,
    1003,
    1004,
    1005,
    1006,
    1007,
    1008,
    1009,
    1010,
)

STAGES = (
    StageSpec(NEW, "Новая", is_start=True),
    StageSpec(ASSIGNED, "Назначена", requirements=(Requirement.EXECUTOR_SET,)),
    StageSpec(APPROVAL, "Согласование", requirements=(Requirement.APPROVER_SET,)),
    StageSpec(WORKS_DONE, "Работы выполнены", requirements=(Requirement.WORKS_ENTERED,)),
    StageSpec(DONE, "Выполнена", entry_action=EntryAction.COMPLETE),
    StageSpec(CLOSED, "Закрыта", entry_action=EntryAction.CLOSE),
    StageSpec(REFUSED, "Отказ исполнителя", entry_action=EntryAction.UNASSIGN),
    StageSpec(TAKEN, "Взята", entry_action=EntryAction.ASSIGN_ACTOR),
    StageSpec(HANDED, "Передана", entry_action=EntryAction.ASSIGN_MEMBER, entry_action_member_id=HANDYMAN),
    StageSpec(CHECKED, "Проверена", requirements=(Requirement.CHECKLISTS_DONE,)),
    StageSpec(SIGNED, "Акт подписан", requirements=(Requirement.ACT_SIGNED, Requirement.WORKS_ENTERED)),
    StageSpec(CANCELLED, "Отказ заказчика", entry_action=EntryAction.CLOSE, is_cancellation=True),
)

T_ASSIGN = TransitionSpec(
    1, NEW, ASSIGNED, "Назначить", Branch.MAIN, frozenset({"dispatcher"}), set_status_id=S_WORK
)
T_CANCEL = TransitionSpec(2, NEW, CANCELLED, "Отменить заявку", Branch.CUSTOMER, set_status_id=S_CLOSED)
T_ASK = TransitionSpec(3, NEW, APPROVAL, "Согласовать сразу", Branch.APPROVAL)
T_TAKE = TransitionSpec(4, NEW, TAKEN, "Взять себе", Branch.MAIN)  # empty roles = any staff role
T_REFUSE = TransitionSpec(
    5,
    NEW,
    REFUSED,
    "Отказ",
    Branch.MAIN,
    frozenset({"executor", "engineer"}),
    role_labels=(("dispatcher", "Снять исполнителей"), ("executor", "Отказаться")),
    requires_comment=True,
)
T_HAND = TransitionSpec(6, NEW, HANDED, "Передать мастеру", Branch.MAIN, frozenset({"dispatcher"}))
T_ADMIN_ONLY_CANCEL = TransitionSpec(
    7, NEW, CLOSED, "Закрыть как руководитель", Branch.CUSTOMER, frozenset({"customer_admin"})
)
T_APPROVE = TransitionSpec(8, APPROVAL, ASSIGNED, "Согласовать", Branch.APPROVAL, set_status_id=S_WORK)
T_APPROVE_CADMIN = TransitionSpec(
    9, APPROVAL, CLOSED, "Отклонить", Branch.APPROVAL, frozenset({"customer_admin"})
)
T_SUBMIT = TransitionSpec(10, ASSIGNED, WORKS_DONE, "Завершить работы", Branch.MAIN, frozenset({"executor"}))
T_ACCEPT = TransitionSpec(11, WORKS_DONE, DONE, "Принять работы", Branch.CUSTOMER, set_status_id=S_DONE)
T_AUTO_CLOSE = TransitionSpec(
    12,
    DONE,
    CLOSED,
    "Закрыть",
    Branch.MAIN,
    frozenset({"dispatcher"}),
    set_status_id=S_CLOSED,
    auto_after_seconds=3 * 24 * 3600,
)
T_CHECK = TransitionSpec(13, ASSIGNED, CHECKED, "Проверить", Branch.MAIN)
T_SIGN = TransitionSpec(14, ASSIGNED, SIGNED, "Подписать", Branch.MAIN)
T_AUTO_SIGN = TransitionSpec(15, WORKS_DONE, SIGNED, "Автоподпись", Branch.MAIN, auto_after_seconds=60)
T_AUTO_TAKE = TransitionSpec(16, DONE, TAKEN, "Автовзятие", Branch.MAIN, auto_after_seconds=60)

LIFECYCLE = LifecycleSpec(
    id=1,
    stages=STAGES,
    transitions=(
        T_ASSIGN,
        T_CANCEL,
        T_ASK,
        T_TAKE,
        T_REFUSE,
        T_HAND,
        T_ADMIN_ONLY_CANCEL,
        T_APPROVE,
        T_APPROVE_CADMIN,
        T_SUBMIT,
        T_ACCEPT,
        T_AUTO_CLOSE,
        T_CHECK,
        T_SIGN,
        T_AUTO_SIGN,
        T_AUTO_TAKE,
    ),
    start_status_id=S_NEW,
)


def staff(member_id: int, *codes: str, role_ids: tuple[int, ...] = (), owner: bool = False) -> ActorFacts:
    boss = owner or bool({"owner", "admin", "dispatcher"} & set(codes))
    return ActorFacts(
        member_id=member_id,
        role_ids=frozenset(role_ids),
        role_codes=frozenset(codes),
        is_staff=True,
        company_ids=frozenset({OWN}),
        may_move_anywhere=owner,
        any_main_transition=boss,
    )


def customer(member_id: int, *companies: int, admin: bool = False) -> ActorFacts:
    return ActorFacts(
        member_id=member_id,
        role_ids=frozenset({R_CADMIN if admin else R_CUSTOMER}),
        role_codes=frozenset({"customer_admin" if admin else "customer"}),
        is_staff=False,
        company_ids=frozenset(companies),
    )


OWNER_A = staff(OWNER, "owner", role_ids=(R_OWNER,), owner=True)
DISPATCHER_A = staff(DISPATCHER, "dispatcher", role_ids=(R_DISPATCHER,))
EXECUTOR_A = staff(EXECUTOR, "executor", role_ids=(R_EXECUTOR,))
ENGINEER_A = staff(ENGINEER, "engineer", role_ids=(R_ENGINEER,))  # staff, but no role named on T_ASSIGN
INITIATOR_A = customer(INITIATOR, ALFA)
COLLEAGUE_A = customer(COLLEAGUE, ALFA)
CADMIN_ALFA = customer(CADMIN_A, ALFA, admin=True)
CADMIN_BETA = customer(CADMIN_B, BETA, admin=True)
CUSTOMER_BETA = customer(CUSTOMER_B, BETA)


def ticket(stage_id: int = NEW, /, **changes: object) -> TicketFacts:
    base = TicketFacts(
        stage_id=stage_id,
        initiator_id=INITIATOR,
        company_id=ALFA,
        approver_member_id=None,
        approver_role_id=None,
        executor_ids=frozenset({EXECUTOR}),
        works_count=1,
        checklists_done=True,
        act_signed=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def offered(t: TicketFacts, actor: ActorFacts) -> set[int]:
    return {tr.id for tr in available_transitions(LIFECYCLE, t, actor)}


# --- rule 1: available_transitions by branch, roles, approver, customer party ---------------------------


def test_main_branch_roles_decide_for_ordinary_staff() -> None:
    # executor: the empty-roles edge and the one naming "executor", never the dispatcher's edge
    assert offered(ticket(), EXECUTOR_A) == {T_TAKE.id, T_REFUSE.id}
    # a staff role named on no edge still gets the empty-roles edge
    assert offered(ticket(), ENGINEER_A) == {T_TAKE.id, T_REFUSE.id}
    no_role = staff(2000, "storekeeper")
    assert offered(ticket(), no_role) == {T_TAKE.id}


def test_dispatcher_and_owner_get_every_main_branch_transition_but_no_customer_or_approval_ones() -> None:
    main_from_new = {T_ASSIGN.id, T_TAKE.id, T_REFUSE.id, T_HAND.id}
    assert offered(ticket(), DISPATCHER_A) == main_from_new
    assert offered(ticket(), OWNER_A) == main_from_new
    admin = staff(2001, "admin")
    assert offered(ticket(), admin) == main_from_new


def test_customers_never_get_main_branch_transitions() -> None:
    # even a customer whose role code happens to be listed on a main edge
    weird = dataclasses.replace(INITIATOR_A, role_codes=frozenset({"customer", "dispatcher", "executor"}))
    assert not admits(T_ASSIGN, ticket(), weird)
    assert not admits(T_TAKE, ticket(), weird)
    assert not any(tr.branch is Branch.MAIN for tr in available_transitions(LIFECYCLE, ticket(), weird))


def test_customer_branch_is_for_the_initiator_and_customer_admins_of_the_ticket_company() -> None:
    t = ticket()
    assert T_CANCEL.id in offered(t, INITIATOR_A)
    assert T_CANCEL.id in offered(t, CADMIN_ALFA)
    assert T_CANCEL.id not in offered(t, COLLEAGUE_A)  # same company but not initiator nor admin
    assert T_CANCEL.id not in offered(t, CADMIN_BETA)  # admin of another company
    assert T_CANCEL.id not in offered(t, CUSTOMER_BETA)
    for member in (DISPATCHER_A, OWNER_A, EXECUTOR_A):
        assert T_CANCEL.id not in offered(t, member)


def test_customer_admin_of_several_companies_acts_on_each_of_them() -> None:
    both = customer(3000, BETA, ALFA, admin=True)
    assert T_CANCEL.id in offered(ticket(), both)
    assert T_CANCEL.id in offered(ticket(company_id=BETA), both)
    assert T_CANCEL.id not in offered(ticket(company_id=999), both)


def test_staff_initiator_is_not_a_customer_party() -> None:
    # a dispatcher who filed the ticket still may not press the customer's buttons
    assert T_CANCEL.id not in offered(ticket(initiator_id=DISPATCHER), DISPATCHER_A)


def test_roles_narrow_the_customer_branch() -> None:
    t = ticket()
    assert T_ADMIN_ONLY_CANCEL.id in offered(t, CADMIN_ALFA)
    assert T_ADMIN_ONLY_CANCEL.id not in offered(t, INITIATOR_A)  # initiator, but not a customer_admin
    assert T_ADMIN_ONLY_CANCEL.id not in offered(t, CADMIN_BETA)


def test_approval_branch_is_only_for_the_awaited_approver_member() -> None:
    t = ticket(APPROVAL, approver_member_id=COLLEAGUE)
    assert T_APPROVE.id in offered(t, COLLEAGUE_A)
    for member in (INITIATOR_A, CADMIN_ALFA, DISPATCHER_A, OWNER_A, EXECUTOR_A, CUSTOMER_BETA):
        assert T_APPROVE.id not in offered(t, member)
    assert is_awaited_approver(t, COLLEAGUE_A)
    assert not is_awaited_approver(t, INITIATOR_A)


def test_approval_branch_admits_every_member_of_the_awaited_role() -> None:
    t = ticket(APPROVAL, approver_role_id=R_CADMIN)
    assert T_APPROVE.id in offered(t, CADMIN_ALFA)
    # a customer stands for the role on their own companies' tickets only: the customer admins of
    # every company hold it, and another company's must not approve (nor see) this one
    assert T_APPROVE.id not in offered(t, CADMIN_BETA)
    assert not is_awaited_approver(t, CADMIN_BETA)
    assert T_APPROVE.id not in offered(t, COLLEAGUE_A)
    assert T_APPROVE.id not in offered(t, DISPATCHER_A)
    # staff roles are awaited whatever the company
    assert is_awaited_approver(ticket(APPROVAL, approver_role_id=R_ENGINEER, company_id=BETA), ENGINEER_A)


def test_staff_member_can_be_the_awaited_approver() -> None:
    t = ticket(APPROVAL, approver_member_id=DISPATCHER)
    assert T_APPROVE.id in offered(t, DISPATCHER_A)
    assert T_APPROVE.id not in offered(t, EXECUTOR_A)


def test_no_approver_means_nobody_approves() -> None:
    t = ticket(APPROVAL)
    for member in (OWNER_A, DISPATCHER_A, INITIATOR_A, CADMIN_ALFA):
        assert offered(t, member) & {T_APPROVE.id, T_APPROVE_CADMIN.id} == set()


def test_roles_narrow_the_approval_branch() -> None:
    t = ticket(APPROVAL, approver_member_id=COLLEAGUE)
    assert offered(t, COLLEAGUE_A) == {T_APPROVE.id}  # approver, but not a customer_admin
    t2 = ticket(APPROVAL, approver_member_id=CADMIN_A)
    assert offered(t2, CADMIN_ALFA) == {T_APPROVE.id, T_APPROVE_CADMIN.id}


def test_only_transitions_from_the_current_stage_are_offered() -> None:
    t = ticket(WORKS_DONE)
    assert offered(t, INITIATOR_A) == {T_ACCEPT.id}
    assert offered(t, DISPATCHER_A) == {T_AUTO_SIGN.id}
    assert offered(ticket(CLOSED), OWNER_A) == set()


def test_transitions_keep_the_configured_order() -> None:
    ids = [tr.id for tr in available_transitions(LIFECYCLE, ticket(), DISPATCHER_A)]
    assert ids == [T_ASSIGN.id, T_TAKE.id, T_REFUSE.id, T_HAND.id]


# --- per-role labels ----------------------------------------------------------------------------------


def test_per_role_label_overrides_the_default_label() -> None:
    assert T_REFUSE.label_for({"executor"}) == "Отказаться"
    assert T_REFUSE.label_for({"dispatcher"}) == "Снять исполнителей"
    assert T_REFUSE.label_for({"engineer"}) == "Отказ"
    assert T_REFUSE.label_for(set()) == "Отказ"
    assert T_ASSIGN.label_for({"dispatcher"}) == "Назначить"


def test_per_role_label_is_deterministic_for_several_roles() -> None:
    # the same role set gives the same label whatever the iteration order of the set
    assert T_REFUSE.label_for(["executor", "dispatcher"]) == T_REFUSE.label_for(["dispatcher", "executor"])
    assert T_REFUSE.label_for(["engineer", "executor"]) == "Отказаться"


# --- plan_transition: admission, comment --------------------------------------------------------------


def test_plan_refuses_a_transition_the_actor_is_not_admitted_to() -> None:
    with pytest.raises(TransitionRefused):
        plan_transition(LIFECYCLE, ticket(), EXECUTOR_A, T_ASSIGN.id)
    with pytest.raises(TransitionRefused):
        plan_transition(LIFECYCLE, ticket(), COLLEAGUE_A, T_CANCEL.id)


def test_plan_refuses_a_transition_that_does_not_leave_the_current_stage() -> None:
    # T_ACCEPT exists in the lifecycle, but from WORKS_DONE, and the ticket is NEW
    with pytest.raises(TransitionRefused):
        plan_transition(LIFECYCLE, ticket(), INITIATOR_A, T_ACCEPT.id)
    with pytest.raises(TransitionRefused):
        plan_transition(LIFECYCLE, ticket(), OWNER_A, 9999)


@pytest.mark.parametrize("comment", [None, "", "   \n\t"])
def test_requires_comment_refuses_without_a_real_comment(comment: str | None) -> None:
    with pytest.raises(CommentRequired):
        plan_transition(LIFECYCLE, ticket(), EXECUTOR_A, T_REFUSE.id, comment=comment)


def test_requires_comment_accepts_a_comment() -> None:
    plan = plan_transition(LIFECYCLE, ticket(), EXECUTOR_A, T_REFUSE.id, comment="нет запчастей")
    assert plan.to_stage.id == REFUSED


def test_admission_is_checked_before_the_comment() -> None:
    # a customer pressing the executor's refusal without a comment is refused, not asked for a reason
    with pytest.raises(TransitionRefused):
        plan_transition(LIFECYCLE, ticket(), INITIATOR_A, T_REFUSE.id)


def test_plan_carries_the_edge_status_and_stages() -> None:
    plan = plan_transition(LIFECYCLE, ticket(), DISPATCHER_A, T_ASSIGN.id)
    assert plan.transition == T_ASSIGN
    assert plan.from_stage.id == NEW
    assert plan.to_stage.id == ASSIGNED
    assert plan.set_status_id == S_WORK
    assert plan.entry_action is None
    assert plan.stamps == frozenset()
    assert plan.executor_ids_after == frozenset({EXECUTOR})
    no_status = plan_transition(LIFECYCLE, ticket(), DISPATCHER_A, T_TAKE.id)
    assert no_status.set_status_id is None


# --- requirements registry ----------------------------------------------------------------------------


def test_every_requirement_has_a_check() -> None:
    assert set(REQUIREMENT_CHECKS) == set(Requirement)


FAILING_FACTS: dict[Requirement, dict[str, object]] = {
    Requirement.EXECUTOR_SET: {"executor_ids": frozenset()},
    Requirement.APPROVER_SET: {"approver_member_id": None, "approver_role_id": None},
    Requirement.WORKS_ENTERED: {"works_count": 0},
    Requirement.CHECKLISTS_DONE: {"checklists_done": False},
    Requirement.ACT_SIGNED: {"act_signed": False},
}
PASSING_FACTS: dict[Requirement, list[dict[str, object]]] = {
    Requirement.EXECUTOR_SET: [{"executor_ids": frozenset({EXECUTOR})}],
    Requirement.APPROVER_SET: [{"approver_member_id": COLLEAGUE}, {"approver_role_id": R_CADMIN}],
    Requirement.WORKS_ENTERED: [{"works_count": 1}, {"works_count": 7}],
    Requirement.CHECKLISTS_DONE: [{"checklists_done": True}],
    Requirement.ACT_SIGNED: [{"act_signed": True}],
}


@pytest.mark.parametrize("requirement", list(Requirement))
def test_requirement_check_fails_and_passes_on_its_fact(requirement: Requirement) -> None:
    stage = StageSpec(900, "X", requirements=(requirement,))
    failing = ticket(**FAILING_FACTS[requirement])
    with pytest.raises(RequirementFailed) as caught:
        check_requirements(stage, failing)
    assert caught.value.requirement is requirement
    for passing in PASSING_FACTS[requirement]:
        facts = dataclasses.replace(failing, **passing)  # type: ignore[arg-type]
        check_requirements(stage, facts)  # does not raise


@pytest.mark.parametrize(
    ("transition", "target", "requirement", "bad"),
    [
        (T_ASSIGN, ASSIGNED, Requirement.EXECUTOR_SET, {"executor_ids": frozenset()}),
        (T_CHECK, CHECKED, Requirement.CHECKLISTS_DONE, {"checklists_done": False}),
        (T_SIGN, SIGNED, Requirement.ACT_SIGNED, {"act_signed": False}),
        (T_SIGN, SIGNED, Requirement.WORKS_ENTERED, {"works_count": 0}),
    ],
)
def test_transition_into_a_stage_whose_requirement_fails_is_refused(
    transition: TransitionSpec, target: int, requirement: Requirement, bad: dict[str, object]
) -> None:
    good = ticket(transition.from_stage_id)
    assert plan_transition(LIFECYCLE, good, DISPATCHER_A, transition.id).to_stage.id == target
    with pytest.raises(RequirementFailed) as caught:
        plan_transition(LIFECYCLE, dataclasses.replace(good, **bad), DISPATCHER_A, transition.id)  # type: ignore[arg-type]
    assert caught.value.requirement is requirement


def test_approver_set_requirement_on_the_way_into_approval() -> None:
    t = ticket(approver_member_id=None)
    # nobody is the approver, so nobody is even admitted; with a role approver the plan succeeds
    assert offered(t, CADMIN_ALFA) & {T_ASK.id} == set()
    t2 = ticket(approver_role_id=R_CADMIN)
    assert plan_transition(LIFECYCLE, t2, CADMIN_ALFA, T_ASK.id).to_stage.id == APPROVAL


def test_an_executor_acts_only_on_tickets_assigned_to_them() -> None:
    assigned = ticket(executor_ids=frozenset({EXECUTOR}))
    someone_elses = ticket(executor_ids=frozenset({ENGINEER}))
    # the edge naming the executor role needs the actor to be the ticket's executor
    assert T_REFUSE.id in offered(assigned, EXECUTOR_A)
    assert T_REFUSE.id not in offered(someone_elses, EXECUTOR_A)
    with pytest.raises(TransitionRefused):
        plan_transition(LIFECYCLE, someone_elses, EXECUTOR_A, T_REFUSE.id, comment="busy")
    # an empty-roles edge is open to any staff role, assigned or not
    assert T_TAKE.id in offered(someone_elses, EXECUTOR_A)


def test_the_source_stage_requirement_does_not_matter() -> None:
    # leaving ASSIGNED (requires executor_set) for WORKS_DONE only checks WORKS_DONE's requirement
    t = ticket(ASSIGNED, executor_ids=frozenset())
    plan = plan_transition(LIFECYCLE, t, DISPATCHER_A, T_SUBMIT.id)
    assert plan.to_stage.id == WORKS_DONE


# --- entry actions ------------------------------------------------------------------------------------


def test_complete_stamps_completed_at() -> None:
    plan = plan_transition(LIFECYCLE, ticket(WORKS_DONE), INITIATOR_A, T_ACCEPT.id)
    assert plan.entry_action is EntryAction.COMPLETE
    assert plan.stamps == frozenset({"completed_at"})
    assert plan.executor_ids_after == frozenset({EXECUTOR})  # executors stay


def test_close_stamps_closed_at() -> None:
    plan = plan_transition(LIFECYCLE, ticket(), INITIATOR_A, T_CANCEL.id)
    assert plan.entry_action is EntryAction.CLOSE
    assert plan.stamps == frozenset({"closed_at"})
    assert plan.to_stage.is_cancellation


def test_unassign_clears_executors() -> None:
    t = ticket(executor_ids=frozenset({EXECUTOR, ENGINEER}))
    plan = plan_transition(LIFECYCLE, t, EXECUTOR_A, T_REFUSE.id, comment="болею")
    assert plan.entry_action is EntryAction.UNASSIGN
    assert plan.executor_ids_after == frozenset()
    assert plan.stamps == frozenset()


def test_assign_actor_adds_whoever_moved_it() -> None:
    t = ticket(executor_ids=frozenset({EXECUTOR}))
    plan = plan_transition(LIFECYCLE, t, ENGINEER_A, T_TAKE.id)
    assert plan.entry_action is EntryAction.ASSIGN_ACTOR
    assert plan.executor_ids_after == frozenset({EXECUTOR, ENGINEER})
    by_dispatcher = plan_transition(LIFECYCLE, ticket(executor_ids=frozenset()), DISPATCHER_A, T_TAKE.id)
    assert by_dispatcher.executor_ids_after == frozenset({DISPATCHER})


def test_assign_member_adds_the_configured_member() -> None:
    plan = plan_transition(LIFECYCLE, ticket(executor_ids=frozenset({EXECUTOR})), DISPATCHER_A, T_HAND.id)
    assert plan.entry_action is EntryAction.ASSIGN_MEMBER
    assert plan.executor_ids_after == frozenset({EXECUTOR, HANDYMAN})
    assert DISPATCHER not in plan.executor_ids_after


def test_assign_member_without_a_configured_member_changes_nothing() -> None:
    stage = dataclasses.replace(LIFECYCLE.stage(HANDED), entry_action_member_id=None)
    lifecycle = dataclasses.replace(
        LIFECYCLE, stages=tuple(stage if s.id == HANDED else s for s in LIFECYCLE.stages)
    )
    plan = plan_transition(lifecycle, ticket(), DISPATCHER_A, T_HAND.id)
    assert plan.executor_ids_after == frozenset({EXECUTOR})


# --- owner moves anywhere -----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [s for s in STAGES if s.id != NEW], ids=lambda s: s.name)
def test_owner_moves_a_ticket_to_any_stage(stage: StageSpec) -> None:
    # a ticket that meets every requirement: the move itself must be admitted for any target
    plan = plan_move_to_stage(LIFECYCLE, ticket(approver_member_id=COLLEAGUE), OWNER_A, stage.id)
    assert plan.transition is None
    assert plan.to_stage == stage
    assert plan.from_stage.id == NEW
    assert plan.entry_action == stage.entry_action


def test_owner_move_even_back_to_start_and_without_any_edge() -> None:
    assert plan_move_to_stage(LIFECYCLE, ticket(CLOSED), OWNER_A, NEW).to_stage.id == NEW
    # there is no edge CLOSED -> WORKS_DONE at all
    assert plan_move_to_stage(LIFECYCLE, ticket(CLOSED), OWNER_A, WORKS_DONE).to_stage.id == WORKS_DONE


@pytest.mark.parametrize("who", [DISPATCHER_A, staff(2001, "admin"), EXECUTOR_A, INITIATOR_A, CADMIN_ALFA])
def test_only_the_owner_moves_anywhere(who: ActorFacts) -> None:
    with pytest.raises(TransitionRefused):
        plan_move_to_stage(LIFECYCLE, ticket(), who, DONE)


def test_owner_move_still_checks_requirements_and_rejects_unknown_stages() -> None:
    with pytest.raises(RequirementFailed):
        plan_move_to_stage(LIFECYCLE, ticket(executor_ids=frozenset()), OWNER_A, ASSIGNED)
    with pytest.raises(TransitionRefused):
        plan_move_to_stage(LIFECYCLE, ticket(), OWNER_A, 424242)


def test_owner_move_sets_the_status_of_an_incoming_edge_and_runs_the_entry_action() -> None:
    closed = plan_move_to_stage(LIFECYCLE, ticket(), OWNER_A, CLOSED)
    assert closed.set_status_id is not None
    assert closed.set_status_id in {t.set_status_id for t in LIFECYCLE.transitions if t.to_stage_id == CLOSED}
    assert closed.stamps == frozenset({"closed_at"})
    done = plan_move_to_stage(LIFECYCLE, ticket(), OWNER_A, DONE)
    assert done.set_status_id == S_DONE
    assert done.stamps == frozenset({"completed_at"})
    refused = plan_move_to_stage(LIFECYCLE, ticket(), OWNER_A, REFUSED)
    assert refused.set_status_id is None  # no incoming edge sets a status: keep the current one
    assert refused.executor_ids_after == frozenset()
    taken = plan_move_to_stage(LIFECYCLE, ticket(executor_ids=frozenset()), OWNER_A, TAKEN)
    assert taken.executor_ids_after == frozenset({OWNER})


# --- plan_automatic -----------------------------------------------------------------------------------


def test_plan_automatic_fires_an_auto_after_transition_without_an_actor() -> None:
    plan = plan_automatic(LIFECYCLE, ticket(DONE), T_AUTO_CLOSE.id)
    assert plan.transition == T_AUTO_CLOSE
    assert plan.to_stage.id == CLOSED
    assert plan.set_status_id == S_CLOSED
    assert plan.stamps == frozenset({"closed_at"})
    assert plan.executor_ids_after == frozenset({EXECUTOR})


def test_plan_automatic_refuses_transitions_without_auto_after() -> None:
    with pytest.raises(TransitionRefused):
        plan_automatic(LIFECYCLE, ticket(), T_ASSIGN.id)


def test_plan_automatic_refuses_when_the_ticket_left_the_source_stage() -> None:
    for stage in (NEW, CLOSED, WORKS_DONE):
        with pytest.raises(TransitionRefused):
            plan_automatic(LIFECYCLE, ticket(stage), T_AUTO_CLOSE.id)


def test_plan_automatic_still_checks_requirements() -> None:
    assert plan_automatic(LIFECYCLE, ticket(WORKS_DONE), T_AUTO_SIGN.id).to_stage.id == SIGNED
    with pytest.raises(RequirementFailed):
        plan_automatic(LIFECYCLE, ticket(WORKS_DONE, act_signed=False), T_AUTO_SIGN.id)


def test_plan_automatic_assign_actor_has_nobody_to_assign() -> None:
    plan = plan_automatic(LIFECYCLE, ticket(DONE, executor_ids=frozenset()), T_AUTO_TAKE.id)
    assert plan.executor_ids_after == frozenset()


# --- lifecycle helpers --------------------------------------------------------------------------------


def test_lifecycle_helpers() -> None:
    assert LIFECYCLE.start_stage.id == NEW
    assert LIFECYCLE.approval_stage_ids() == frozenset({NEW, APPROVAL})
    assert [t.id for t in LIFECYCLE.outgoing(DONE)] == [T_AUTO_CLOSE.id, T_AUTO_TAKE.id]
    assert LIFECYCLE.outgoing(CANCELLED) == []
    with pytest.raises(KeyError):
        LIFECYCLE.stage(4242)
