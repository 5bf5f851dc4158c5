from tests.factories import (
    ApplicationFactory,
    RegistrationFactory,
    UserFactory,
    make_api_key,
    make_signing_key,
)


def test_factories_build_a_registered_user(db):
    reg = RegistrationFactory()
    assert reg.user.tenant_id == reg.application.tenant_id
    assert UserFactory().check_password("correct horse battery staple")
    assert ApplicationFactory().active
    key, raw = make_api_key()
    assert key.key_digest != raw
    assert make_signing_key("RS256").public_key.startswith("-----BEGIN PUBLIC KEY-----")
