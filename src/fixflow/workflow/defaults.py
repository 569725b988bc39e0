"""The default lifecycle «Заявка на ремонт» (spec/domain.md §5), seeded for every new tenant."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from fixflow.workflow.models import Lifecycle, Stage, Status, Transition

THREE_DAYS = 3 * 24 * 3600

STATUSES: dict[str, str] = {
    "Новая": "#2196f3",
    "В работе": "#ff9800",
    "Отказ заказчика": "#9e9e9e",
    "Согласование": "#9c27b0",
    "Не согласована": "#f44336",
    "Ожидает приёмки": "#00bcd4",
    "Выполнена": "#4caf50",
    "На доработке": "#ff5722",
    "Закрыта": "#607d8b",
}

# name, colour, entry action, requirements, is_cancellation
STAGES: list[tuple[str, str, str | None, list[str], bool]] = [
    ("Новая", "#2196f3", None, [], False),
    ("Назначена", "#3f51b5", None, ["executor_set"], False),
    ("Принята", "#009688", None, [], False),
    ("В работе", "#ff9800", None, [], False),
    ("Согласование", "#9c27b0", None, ["approver_set"], False),
    ("Не согласована", "#f44336", None, [], False),
    ("Работы выполнены", "#00bcd4", None, ["works_entered"], False),
    ("Выполнена", "#4caf50", "complete", [], False),
    ("Закрыта", "#607d8b", "close", [], False),
    ("Отказ исполнителя", "#795548", "unassign", [], False),
    ("Отказ заказчика", "#9e9e9e", "close", [], True),
]


@dataclass(frozen=True)
class T:
    source: str
    target: str
    label: str
    branch: str
    roles: tuple[str, ...] = ()
    status: str | None = None
    comment: bool = False
    auto_after: int | None = None


TRANSITIONS: list[T] = [
    T("Новая", "Назначена", "Назначить", "main", ("dispatcher",), "В работе"),
    T("Новая", "Отказ заказчика", "Отменить заявку", "customer", (), "Отказ заказчика"),
    T("Назначена", "Отказ заказчика", "Отменить заявку", "customer", (), "Отказ заказчика"),
    T("Назначена", "Принята", "Принять", "main", ("executor",), "В работе"),
    T("Назначена", "Отказ исполнителя", "Отказаться", "main", ("executor",), None, True),
    T("Принята", "Отказ исполнителя", "Отказаться", "main", ("executor",), None, True),
    T("Отказ исполнителя", "Назначена", "Переназначить", "main", ("dispatcher",)),
    T("Принята", "В работе", "Начать работу", "main", ("executor",), "В работе"),
    T("В работе", "Согласование", "На согласование", "main", ("executor", "dispatcher"), "Согласование"),
    T("Согласование", "В работе", "Согласовать", "approval", (), "В работе"),
    T("Согласование", "Не согласована", "Не согласовывать", "approval", (), "Не согласована", True),
    T("Не согласована", "В работе", "Продолжить", "main", ("dispatcher",), "В работе"),
    T("Не согласована", "Закрыта", "Закрыть", "main", ("dispatcher",), "Закрыта"),
    T("В работе", "Работы выполнены", "Завершить работы", "main", ("executor",), "Ожидает приёмки"),
    T("Работы выполнены", "Выполнена", "Принять работы", "customer", (), "Выполнена"),
    T("Работы выполнены", "В работе", "Не принимать работы", "customer", (), "На доработке", True),
    T("Выполнена", "Закрыта", "Закрыть", "main", ("dispatcher",), "Закрыта", False, THREE_DAYS),
]


def seed_default_lifecycle(session: Session, tenant_id: int) -> Lifecycle:
    statuses = {name: Status(tenant_id=tenant_id, name=name, color=color) for name, color in STATUSES.items()}
    session.add_all(statuses.values())
    session.flush()
    lifecycle = Lifecycle(tenant_id=tenant_id, name="Заявка на ремонт", start_status_id=statuses["Новая"].id)
    session.add(lifecycle)
    session.flush()
    stages: dict[str, Stage] = {}
    for order, (name, color, action, requirements, cancellation) in enumerate(STAGES):
        stages[name] = Stage(
            tenant_id=tenant_id,
            lifecycle_id=lifecycle.id,
            name=name,
            color=color,
            is_start=order == 0,
            is_cancellation=cancellation,
            entry_action=action,
            requirements=requirements,
            sort_order=order,
        )
    session.add_all(stages.values())
    session.flush()
    for order, t in enumerate(TRANSITIONS):
        session.add(
            Transition(
                tenant_id=tenant_id,
                lifecycle_id=lifecycle.id,
                from_stage_id=stages[t.source].id,
                to_stage_id=stages[t.target].id,
                label=t.label,
                branch=t.branch,
                roles=list(t.roles),
                set_status_id=statuses[t.status].id if t.status else None,
                requires_comment=t.comment,
                auto_after_seconds=t.auto_after,
                sort_order=order,
            )
        )
    session.flush()
    return lifecycle
