"""The plain-SQL reads and inserts of ``tradeconsole.db`` give the rows the ORM gives."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models.signals import post_save, pre_save
from django.forms.models import model_to_dict

from accounts.models import BrokerAccount, OutboxMessage
from accounts.selectors import account_for_member, accounts_for_user
from accounts.tests.factories import UserFactory
from orders.models import Order, OrderEvent, RiskLimit
from orders.selectors import risk_limit_for_account
from orders.tests.factories import OrderFactory
from tradeconsole import db

pytestmark = pytest.mark.django_db


def _all_fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def _read(model, pk):
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {db.columns(model, table)} FROM {table} WHERE id = %s", [pk])
        return db.from_row(model, cursor.fetchone())


def test_a_row_read_in_plain_sql_equals_the_orms(account, instrument):
    order = OrderFactory(account=account, instrument=instrument, limit_price=Decimal("101.25"))
    Order.objects.filter(pk=order.pk).update(modify_prior={"limit_price": "100.5"}, pending_quantity=Decimal("7"))

    read = _read(Order, order.pk)

    assert _all_fields(read) == _all_fields(Order.objects.get(pk=order.pk))
    assert read.modify_prior == {"limit_price": "100.5"}
    assert (read._state.adding, read._state.db) == (False, "default")


def test_select_one_reads_the_first_matching_row_as_the_orm_does(account, instrument):
    OrderFactory(account=account, instrument=instrument, quantity=Decimal("5"))
    later = OrderFactory(account=account, instrument=instrument, quantity=Decimal("7"))

    found = db.select_one(Order, "account_id = %s", [account.pk], order_by="id DESC", lock=True)

    assert _all_fields(found) == _all_fields(Order.objects.filter(account=account).order_by("-id").first())
    assert found.pk == later.pk
    assert db.select_one(Order, "account_id = %s", [account.pk + 1000]) is None


def test_an_inserted_row_is_the_row_save_would_write(account, instrument, trader):
    order = OrderFactory(account=account, instrument=instrument)
    kwargs = {"order": order, "kind": "submitted", "to_status": "NEW", "data": {"via": "api", "n": 1}, "actor": trader}

    inserted = db.insert(OrderEvent(**kwargs))
    saved = OrderEvent.objects.create(**kwargs)

    assert inserted.pk is not None and not inserted._state.adding
    stored, reference = OrderEvent.objects.get(pk=inserted.pk), OrderEvent.objects.get(pk=saved.pk)
    assert model_to_dict(stored, exclude=["id"]) == model_to_dict(reference, exclude=["id"])
    assert stored.created_at == inserted.created_at  # auto_now_add set on the instance, as save() sets it
    assert _all_fields(inserted) == _all_fields(stored)


def test_insert_sends_the_save_signals(account):
    seen = []

    def record(sender, instance, **kwargs):
        seen.append((kwargs["signal"], sender, instance.pk is not None, kwargs.get("created")))

    pre_save.connect(record, sender=OutboxMessage)
    post_save.connect(record, sender=OutboxMessage)
    try:
        db.insert(OutboxMessage(type="order.place", data={"account": account.code}))
    finally:
        pre_save.disconnect(record, sender=OutboxMessage)
        post_save.disconnect(record, sender=OutboxMessage)

    assert seen == [(pre_save, OutboxMessage, False, None), (post_save, OutboxMessage, True, True)]


def test_an_update_writes_what_save_with_update_fields_writes(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    twin = OrderFactory(account=account, instrument=instrument)
    before = Order.objects.get(pk=order.pk).updated_at
    for instance in (order, twin):
        instance.filled_quantity = Decimal("40")
        instance.average_fill_price = Decimal("101.2345")
        instance.modify_prior = {"limit_price": "99"}
    fields = {"filled_quantity", "average_fill_price", "modify_prior", "updated_at"}

    db.update(order, fields)
    twin.save(update_fields=sorted(fields))

    stored, reference = Order.objects.get(pk=order.pk), Order.objects.get(pk=twin.pk)
    exclude = ["id", "client_order_id"]
    assert model_to_dict(stored, exclude=exclude) == model_to_dict(reference, exclude=exclude)
    assert stored.updated_at == order.updated_at > before  # auto_now stamped on the instance, as save() does
    assert stored.quantity == Decimal("100")  # a field not named is left alone


def test_an_update_of_a_row_that_is_gone_raises_like_save(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    Order.objects.filter(pk=order.pk).delete()

    with pytest.raises(DatabaseError, match="did not affect any rows"), transaction.atomic():
        db.update(order, {"status"})


def test_update_sends_the_save_signals_with_its_fields(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    seen = []

    def record(sender, instance, **kwargs):
        seen.append((kwargs["signal"], kwargs["update_fields"], kwargs.get("created")))

    pre_save.connect(record, sender=Order)
    post_save.connect(record, sender=Order)
    try:
        db.update(order, {"status"})
    finally:
        pre_save.disconnect(record, sender=Order)
        post_save.disconnect(record, sender=Order)

    assert seen == [(pre_save, frozenset({"status"}), None), (post_save, frozenset({"status"}), False)]


def test_a_refused_insert_marks_the_transaction_for_rollback_like_save(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    duplicate = Order(
        client_order_id=order.client_order_id,
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("1"),
        source="api",
    )

    marked = None
    with pytest.raises(IntegrityError), transaction.atomic():
        try:
            db.insert(duplicate)
        finally:
            marked = transaction.get_connection().needs_rollback

    assert marked is True
    assert Order.objects.filter(client_order_id=order.client_order_id).count() == 1


def test_the_risk_limit_read_in_plain_sql_equals_the_orms(account, other_account):
    RiskLimit.objects.filter(account=account).update(approval_above_notional=Decimal("5000.5"))

    limits = risk_limit_for_account(account)

    assert _all_fields(limits) == _all_fields(RiskLimit.objects.get(account=account))
    assert limits.account is account


def test_an_account_without_limits_gets_the_unsaved_defaults(db):
    bare = BrokerAccount.objects.create(code="DU0000009", name="No limits")

    limits = risk_limit_for_account(bare)

    assert limits.pk is None and limits.max_order_quantity == RiskLimit().max_order_quantity


@pytest.mark.parametrize("who", ["member", "outsider", "superuser", "inactive", "anonymous"])
def test_account_for_member_answers_what_accounts_for_user_answers(who, account, other_account, trader):
    from django.contrib.auth.models import AnonymousUser

    user = {
        "member": trader,
        "outsider": UserFactory(username="outsider"),
        "superuser": UserFactory(username="root", is_superuser=True),
        "inactive": UserFactory(username="gone", accounts=[account], is_active=False),
        "anonymous": AnonymousUser(),
    }[who]

    for code in (account.code, other_account.code, "DU0000404"):
        expected = accounts_for_user(user).filter(code=code).first()
        found = account_for_member(user, code)
        assert (found and _all_fields(found)) == (expected and _all_fields(expected)), code


@pytest.mark.django_db(transaction=True)
def test_a_statement_prepared_before_a_column_type_change_fails_once_then_a_new_connection_runs_it():
    """A migration that changes a returned column's type breaks the statements connections have
    prepared; each connection fails once and is replaced at the next request or task boundary."""
    from django.db import NotSupportedError, close_old_connections

    def _on_another_connection(sql: str) -> None:
        # As a migration runs: in another process (psycopg forgets its own connection's
        # prepared statements when that connection runs DDL).
        other = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            with other.cursor() as cursor:
                cursor.execute(sql)
        finally:
            other.close()

    select = "SELECT name FROM tc_stale_plan_probe WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE tc_stale_plan_probe (id integer PRIMARY KEY, name varchar(10))")
        cursor.execute("INSERT INTO tc_stale_plan_probe VALUES (1, 'AAPL')")
    try:
        with db.cursor() as cursor:
            for _ in range(6):  # prepared from the fifth run (prepare_threshold)
                cursor.execute(select, [1])
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%tc_stale_plan_probe%'")
            assert cursor.fetchone()[0] == 1
            _on_another_connection("ALTER TABLE tc_stale_plan_probe ALTER COLUMN name TYPE varchar(20)")
            with pytest.raises(NotSupportedError):
                cursor.execute(select, [1])
        close_old_connections()  # what a request's end, a Celery task's or the bridge's loop calls

        assert connection.connection is None
        with db.cursor() as cursor:
            cursor.execute(select, [1])
            assert cursor.fetchone() == ("AAPL",)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS tc_stale_plan_probe")


def test_the_hot_paths_statements_are_prepared_and_the_orms_are_not(account):
    for _ in range(6):  # prepared from the fifth run
        assert db.select_one(BrokerAccount, "id = %s", [account.pk]) == account
        assert BrokerAccount.objects.filter(pk=account.pk).get() == account

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%%accounts_brokeraccount%%'")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1 and prepared[0].endswith("WHERE id = $1 LIMIT 1")


def test_an_orm_query_may_pass_more_parameters_than_a_prepared_statement_can_hold():
    # Server-bound statements take at most 65,535 parameters; the ORM's IN lists may be longer
    # (deleting 100,000 fills collects their ids), so the ORM keeps client-side binding.
    assert Order.objects.filter(pk__in=range(1, 70_001)).count() == 0
