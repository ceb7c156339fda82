import pytest
from django.core.exceptions import ImproperlyConfigured

from tradeconsole import env


def test_a_boolean_that_is_neither_true_nor_false_is_refused(monkeypatch):
    monkeypatch.setenv("TC_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="TC_FLAG"):
        env.boolean("TC_FLAG", default=False)


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("0", False), ("YES", True), ("off", False)])
def test_booleans_parse_in_their_usual_spellings(monkeypatch, text, expected):
    monkeypatch.setenv("TC_FLAG", text)
    assert env.boolean("TC_FLAG", default=not expected) is expected


def test_an_integer_out_of_bounds_is_refused(monkeypatch):
    monkeypatch.setenv("TC_PORT", "70000")
    with pytest.raises(ImproperlyConfigured, match="outside"):
        env.integer("TC_PORT", 7497, minimum=1, maximum=65535)


def test_a_value_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("TC_SECRET_FILE", str(secret))
    assert env.string("TC_SECRET") == "s3cret"


def test_a_database_url_with_an_unknown_scheme_is_refused(monkeypatch):
    monkeypatch.setenv("TC_DB", "oracle-ish://x")
    with pytest.raises(ImproperlyConfigured, match="TC_DB"):
        env.database("TC_DB")


def test_a_url_of_another_database_than_postgresql_is_refused(monkeypatch):
    monkeypatch.setenv("TC_DB", "mysql://desk@127.0.0.1:3306/tradeconsole")
    with pytest.raises(ImproperlyConfigured, match="postgres://"):
        env.database("TC_DB")


def test_an_unset_database_url_says_how_to_set_it(monkeypatch):
    monkeypatch.delenv("TC_DB", raising=False)
    with pytest.raises(ImproperlyConfigured, match="Set TC_DB=postgres://"):
        env.database("TC_DB")


def test_a_redis_url_must_be_a_redis_url(monkeypatch):
    monkeypatch.setenv("TC_REDIS", "http://127.0.0.1:6379")
    with pytest.raises(ImproperlyConfigured, match="redis://"):
        env.redis_url("TC_REDIS", "redis://127.0.0.1:6379/0")
