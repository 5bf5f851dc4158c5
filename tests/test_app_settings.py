"""identity.app_settings: each IDENTITY_* default written once, read uncached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from identity import app_settings
from identity.services.signing_keys import signer_retirement_deadline
from tests.factories import TenantFactory


def test_a_missing_setting_falls_back_to_its_default(settings: Any) -> None:
    del settings.IDENTITY_KEY_ROTATION_MARGIN_SECONDS
    assert (
        app_settings.key_rotation_margin_seconds()
        == app_settings.DEFAULTS["IDENTITY_KEY_ROTATION_MARGIN_SECONDS"]
    )


@pytest.mark.django_db
def test_the_rotation_overlap_reads_the_margin_setting(settings: Any) -> None:
    tenant = TenantFactory()
    now = timezone.now()
    settings.IDENTITY_KEY_ROTATION_MARGIN_SECONDS = 7
    assert signer_retirement_deadline(tenant=tenant, now=now) == now + timedelta(
        seconds=tenant.access_token_ttl_seconds + 7
    )
