"""settings.load: production (APP_ENV=production) refuses to start with missing or weak secrets."""

import base64

import pytest

import settings
from settings import SettingError

STRONG = {
    "ADMIN_API_KEY": "adm-7Qe9vLk2pXw4Rz8TnY1cBf6HsJ3uMa5D",
    "MINIAPP_SECRET": "mini-Hq3Zr8Lw1Kp6Vx9Ct2Ny5Bm4Jf7Gd0Sa",
    "PAYMENT_WEBHOOK_SECRET": "pay-Xc4Vb7Nm1Qw9Er3Ty6Ui8Op2As5Df0Gh",
    "SECRET_KEY": "ses-Lk9Jh2Gf5Ds8Aq1Wz4Xc7Ev3Rb6Tn0My",
    "CODE_MASTER_KEY": "n7Dq2Zp9Lx4Wv1Kc8Rt5Yb3Hm6Jf0Gs-Ea_Uo2Ni4Tc",
}
ZERO_KEY = base64.urlsafe_b64encode(bytes(32)).decode()


def load(tmp_path, **environ) -> dict:
    config: dict = {}
    settings.load(config, str(tmp_path), environ={k: str(v) for k, v in environ.items()})
    return config


def test_production_starts_with_strong_secrets(tmp_path):
    config = load(tmp_path, APP_ENV="production", **STRONG)
    assert settings.is_production(config) and config["ADMIN_API_KEY"] == STRONG["ADMIN_API_KEY"]
    assert not (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize(
    "name,value",
    [
        ("ADMIN_API_KEY", "admin"),
        ("SECRET_KEY", "x"),
        ("MINIAPP_SECRET", "a-secret-but-far-too-short"),
        ("PAYMENT_WEBHOOK_SECRET", "0" * 64),
        ("ADMIN_API_KEY", "admin" * 8),
        ("CODE_MASTER_KEY", ZERO_KEY),
        ("CODE_MASTER_KEY", base64.urlsafe_b64encode(b"0123456789abcdef" * 2).decode()),
    ],
)
def test_production_refuses_a_weak_secret_naming_the_key_not_the_value(tmp_path, name, value):
    with pytest.raises(SettingError) as refused:
        load(tmp_path, APP_ENV="production", **{**STRONG, name: value})
    assert name in str(refused.value) and value not in str(refused.value)


def test_production_refuses_a_missing_secret(tmp_path):
    environ = {k: v for k, v in STRONG.items() if k != "SECRET_KEY"}
    with pytest.raises(SettingError, match="SECRET_KEY"):
        load(tmp_path, APP_ENV="production", **environ)


def test_a_master_key_that_is_not_32_bytes_is_refused_in_any_mode_without_echoing_it(tmp_path):
    with pytest.raises(SettingError) as refused:
        load(tmp_path, CODE_MASTER_KEY="not-a-key")
    assert "CODE_MASTER_KEY" in str(refused.value) and "not-a-key" not in str(refused.value)


def test_development_generates_strong_secrets_and_accepts_what_it_is_given(tmp_path):
    config = load(tmp_path, ADMIN_API_KEY="admin")
    assert config["ADMIN_API_KEY"] == "admin" and not settings.is_production(config)
    for name in ("MINIAPP_SECRET", "SECRET_KEY", "PAYMENT_WEBHOOK_SECRET"):
        assert settings._random_secret(config[name]) is None
    assert settings._random_master_key(config["CODE_MASTER_KEY"]) is None


@pytest.mark.parametrize("value", ["staging", "prod", "Production"])
def test_an_unknown_app_env_is_refused(tmp_path, value):
    with pytest.raises(SettingError, match="APP_ENV"):
        load(tmp_path, APP_ENV=value)


def test_trusted_proxies_is_a_count_of_at_least_zero(tmp_path):
    assert load(tmp_path)["TRUSTED_PROXIES"] == 0
    assert load(tmp_path, TRUSTED_PROXIES=2)["TRUSTED_PROXIES"] == 2
    with pytest.raises(SettingError, match="TRUSTED_PROXIES"):
        load(tmp_path, TRUSTED_PROXIES=-1)
