"""The outbox and its worker against a receiver on 127.0.0.1: signatures, retries after 500s and
timeouts, order per object, nothing for a rolled-back change, at-least-once with the same ids."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.core.management import call_command
from django.db import transaction

from identity.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from identity.services.webhooks import (
    backoff_seconds,
    event_emit,
    webhook_create,
    webhook_deliveries_retry,
    webhook_deliveries_send,
    webhook_signature,
)
from tests.factories import TenantFactory

SHARED_DATABASE = "a worker process shares the test database only on PostgreSQL (.ci/run uses it)"

pytestmark = pytest.mark.django_db


def _hook(receiver, tenant, *, events=("user.update",), **kwargs):
    return webhook_create(url=receiver.url, events=events, tenant_ids=[tenant.pk], **kwargs)


def _emit(tenant, *, key="u1", n=0, type="user.update"):
    return event_emit(type=type, tenant=tenant, payload={"n": n}, object_key=key)


def _drain(rounds=10):
    for _ in range(rounds):
        if not webhook_deliveries_send():
            return


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (the README's snippet)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    ts = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(now - ts) <= tolerance and hmac.compare_digest(expected, parts["v1"])


def test_signed_envelope_delivered_after_commit(receiver):
    tenant = TenantFactory()
    _, secret = _hook(receiver, tenant)
    event = _emit(tenant)
    assert webhook_deliveries_send() == 1
    [got] = receiver.received
    assert verify(secret, got.headers["X-Identity-Signature"], got.body, now=int(time.time()))
    assert not verify("another secret", got.headers["X-Identity-Signature"], got.body, now=int(time.time()))
    assert not verify(secret, got.headers["X-Identity-Signature"], got.body + b" ", now=int(time.time()))
    body = got.event
    assert body["id"] == str(event.id) == got.headers["X-Identity-Event-Id"]
    assert body["type"] == "user.update" and body["tenantId"] == str(tenant.pk) and body["n"] == 0
    assert isinstance(body["createInstant"], int) and "info" in body
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
    assert webhook_deliveries_send() == 0


def test_signature_format():
    header = webhook_signature(secret="s", timestamp=1700000000, body=b"{}")
    assert header == "t=1700000000,v1=" + hmac.new(b"s", b"1700000000.{}", hashlib.sha256).hexdigest()


def test_only_webhooks_that_want_the_event_of_that_tenant(receiver):
    tenant, other = TenantFactory(), TenantFactory()
    _hook(receiver, tenant, events=("user.create",))
    webhook_create(url=receiver.url, events=["user.update"], is_global=True)
    assert _emit(other) is not None  # the global one wants it
    assert WebhookDelivery.objects.count() == 1
    assert event_emit(type="user.delete", tenant=tenant, payload={}) is None  # nobody wants it
    assert WebhookEvent.objects.count() == 1
    with pytest.raises(ValueError, match="Unknown event type"):
        event_emit(type="user.exploded", tenant=tenant, payload={})


def test_no_delivery_of_a_rolled_back_change(receiver):
    tenant = TenantFactory()
    _hook(receiver, tenant)
    with pytest.raises(RuntimeError), transaction.atomic():
        _emit(tenant)
        raise RuntimeError("the change fails after the event was written")
    assert WebhookEvent.objects.count() == 0
    _drain()
    assert receiver.received == []


def test_retried_after_500_until_delivered_same_id(receiver):
    tenant = TenantFactory()
    _hook(receiver, tenant)
    receiver.script.extend([500, 503])
    event = _emit(tenant)
    _drain()
    assert [e["id"] for e in receiver.events()] == [str(event.id)] * 3
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status) == (DeliveryStatus.DELIVERED, 3, 200)


def test_timeout_is_retried(receiver):
    tenant = TenantFactory()
    _hook(receiver, tenant, read_timeout_ms=200)
    receiver.script.append(("sleep", 1.0))
    _emit(tenant)
    assert webhook_deliveries_send() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status is None
    assert "timed out" in delivery.last_error.lower() or "timeout" in delivery.last_error.lower()
    _drain()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2


def test_receiver_down_loses_nothing_then_fails_and_is_retried_from_the_admin_service(receiver):
    tenant = TenantFactory()
    webhook, _ = webhook_create(
        url="http://127.0.0.1:9/down", events=["user.update"], tenant_ids=[tenant.pk], max_attempts=3
    )
    _emit(tenant)
    _drain()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    webhook.url = receiver.url
    webhook.save()
    assert webhook_deliveries_retry(deliveries=WebhookDelivery.objects.all()) == 1
    _drain()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and len(receiver.received) == 1


def test_back_off_grows_with_jitter_and_is_capped(settings):
    settings.IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS = 2
    settings.IDENTITY_WEBHOOK_BACKOFF_MAX_SECONDS = 60
    for attempts, full in ((1, 2), (2, 4), (3, 8), (10, 60)):
        delays = {backoff_seconds(attempts) for _ in range(20)}
        assert all(full / 2 <= d <= full for d in delays) and len(delays) > 1


def test_a_pending_retry_holds_back_later_events_of_the_same_object(receiver, settings):
    settings.IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS = 3600  # the first event's retry is not due yet
    tenant = TenantFactory()
    _hook(receiver, tenant)
    receiver.script.append(500)
    first = _emit(tenant, key="a", n=1)
    _emit(tenant, key="a", n=2)
    other = _emit(tenant, key="b", n=3)
    _drain()
    # "a" #1 failed and waits; "a" #2 must not overtake it; "b" is independent.
    assert [e["n"] for e in receiver.events()] == [1, 3]
    WebhookDelivery.objects.filter(event=first).update(next_attempt_at=first.created_at)
    _drain()
    assert [e["n"] for e in receiver.events()] == [1, 3, 1, 2]
    assert other.id != first.id


def test_order_per_object_over_many_events(receiver):
    tenant = TenantFactory()
    _hook(receiver, tenant)
    receiver.script.extend([500, 200, 500, 500, 200])
    for n in range(6):
        _emit(tenant, key="same", n=n)
    _drain(30)
    delivered = [e["n"] for e in receiver.events()]
    # every event arrives, and never before one emitted earlier has been delivered
    assert sorted(set(delivered)) == list(range(6))
    firsts = [delivered.index(n) for n in range(6)]
    assert firsts == sorted(firsts)


def test_deliver_webhooks_once_command(receiver):
    tenant = TenantFactory()
    _hook(receiver, tenant)
    for n in range(3):
        _emit(tenant, key=str(n), n=n)
    call_command("deliver_webhooks", "--once", "--batch-size", "2")
    assert sorted(e["n"] for e in receiver.events()) == [0, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_batch_redelivers_with_the_same_ids(receiver, tmp_path):
    """A real `manage.py deliver_webhooks` process is SIGKILLed while the receiver holds its second
    request: its batch's transaction rolls back, and the next worker sends every event again with
    the same ids (at-least-once)."""
    from django.db import connection

    from tests import live

    if connection.vendor != "postgresql":
        pytest.skip(SHARED_DATABASE)
    tenant = TenantFactory()
    _hook(receiver, tenant)
    events = [_emit(tenant, key=str(n), n=n) for n in range(3)]
    receiver.script.extend([200, ("sleep", 30)])
    env = live.server_env({"IDENTITY_WEBHOOK_BACKOFF_BASE_SECONDS": "0"})
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "deliver_webhooks", "--batch-size", "10"],
        env=env,
        cwd=os.getcwd(),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "worker.log", "wb"),
    )
    try:
        receiver.wait_for(2, timeout=30)
        assert len(receiver.received) == 2, (tmp_path / "worker.log").read_text()
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3
    receiver.script.clear()
    _drain()
    ids = [e["id"] for e in receiver.events()]
    assert set(ids) == {str(e.id) for e in events}
    assert ids[-3:] == [str(e.id) for e in events]  # all three sent again, with the same ids
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_worker_stops_cleanly_on_sigterm(tmp_path):
    from django.db import connection

    from tests import live

    if connection.vendor != "postgresql":
        pytest.skip(SHARED_DATABASE)

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "deliver_webhooks", "--poll-seconds", "0.2"],
        env=live.server_env(),
        cwd=os.getcwd(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert worker.stdout is not None
    assert b"Delivering webhook events" in worker.stdout.readline()  # the handlers are installed
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=20)
    assert worker.returncode == 0, err
    assert b"delivery attempts" in out


def test_event_ids_are_unique(receiver):
    tenant = TenantFactory()
    _hook(receiver, tenant)
    ids = {_emit(tenant, key=str(n)).id for n in range(20)}
    assert len(ids) == 20 and all(isinstance(i, uuid.UUID) for i in ids)
