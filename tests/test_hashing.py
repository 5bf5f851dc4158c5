import pytest
from django.utils.crypto import salted_hmac

from identity.hashing import keyed_mac

MESSAGES = ["", "a", "0e6d1c3a-5b0c-4d8e-9a6f-1c2b3d4e5f60:7:salt", "ünïcode ✓", "x" * 5000]


@pytest.mark.parametrize("message", MESSAGES, ids=["empty", "one", "refresh", "unicode", "long"])
@pytest.mark.parametrize("salt", ["identity.refresh-token", "identity.oauth-client-secret"])
def test_keyed_mac_is_djangos_salted_hmac(salt, message):
    assert keyed_mac(salt, message) == salted_hmac(salt, message, algorithm="sha256").digest()


def test_keyed_mac_follows_a_changed_secret_key(settings):
    before = keyed_mac("identity.refresh-token", "m")
    settings.SECRET_KEY = "another-secret-key-" + "k" * 40
    after = keyed_mac("identity.refresh-token", "m")
    assert after != before
    assert after == salted_hmac("identity.refresh-token", "m", algorithm="sha256").digest()
