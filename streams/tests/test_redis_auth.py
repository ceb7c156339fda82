"""The Django side on a Redis that requires a password: the stream client, the channel layer and
Celery's broker connect with REDIS_URL's credentials, and a wrong or missing password fails at once
with Redis's refusal, never a silent wait."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import kombu
import pytest
import redis
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from execution_worker.tests.private_redis import private_redis
from streams.tests.stack import ROOT, process_env

LAYERS = {"pubsub": RedisPubSubChannelLayer, "core": RedisChannelLayer}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    with private_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


def refusals(server) -> list[str]:
    """A wrong password, and none at all."""
    return [server.url(password="wrong"), f"redis://127.0.0.1:{server.port}/0"]


def test_the_stream_client_uses_redis_url_credentials(secured, settings):
    from streams.redis_client import get_redis

    settings.REDIS_URL = secured.url(db=3)
    client = get_redis()
    client.xadd("tch4auth:events", {"v": "1"})
    assert client.xlen("tch4auth:events") == 1

    for url in refusals(secured):
        settings.REDIS_URL = url
        started = time.monotonic()
        with pytest.raises(redis.AuthenticationError):
            get_redis().ping()
        assert time.monotonic() - started < 3


def _round_trip(layer) -> dict:
    async def run():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello", "n": 1})
        message = await asyncio.wait_for(layer.receive(channel), 5)
        await layer.flush()
        return message

    return asyncio.run(run())


@pytest.mark.parametrize("kind", ["pubsub", "core"])
def test_the_channel_layer_uses_redis_url_credentials(secured, kind):
    # The settings' layer, with the server's URL where the settings put REDIS_URL.
    config = dict(settings.CHANNEL_LAYERS["default"]["CONFIG"], hosts=[secured.url()])
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] == [settings.REDIS_URL]

    assert _round_trip(LAYERS[kind](**config)) == {"type": "hello", "n": 1}
    for url in refusals(secured):
        with pytest.raises(redis.AuthenticationError):
            _round_trip(LAYERS[kind](**dict(config, hosts=[url])))


def test_celerys_broker_uses_redis_url_credentials(secured):
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with kombu.Connection(secured.url(), transport_options=options) as connection:
        queue = connection.SimpleQueue("tch4-auth")
        queue.put({"task": "ping"})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.payload == {"task": "ping"}
    for url in refusals(secured):
        with kombu.Connection(url, transport_options=options) as connection:
            started = time.monotonic()
            with pytest.raises(kombu.exceptions.OperationalError, match=r"invalid username-password|Authentication"):
                connection.ensure_connection(max_retries=1, interval_start=0)
            assert time.monotonic() - started < 3


def test_the_settings_read_the_credentials_for_every_redis_client(secured):
    """In a fresh process, as the desk's processes start: REDIS_URL reaches the stream client, the
    channel layer and Celery's broker, and none of them prints the password."""
    script = (
        "import django, asyncio; django.setup()\n"
        "from django.conf import settings\n"
        "from streams.redis_client import get_redis\n"
        "from channels.layers import get_channel_layer\n"
        "from tradeconsole.celery import app\n"
        "assert get_redis().ping()\n"
        "layer = get_channel_layer()\n"
        "async def trip():\n"
        "    channel = await layer.new_channel()\n"
        "    await layer.send(channel, {'type': 'x'})\n"
        "    return await asyncio.wait_for(layer.receive(channel), 5)\n"
        "assert asyncio.run(trip()) == {'type': 'x'}\n"
        "with app.connection_for_write() as connection:\n"
        "    connection.ensure_connection(max_retries=1)\n"
        "print('all connected', app.connection_for_write().as_uri())\n"
    )
    env = {**process_env(), "REDIS_URL": secured.url(db=4), "DJANGO_SETTINGS_MODULE": "tradeconsole.settings"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "all connected" in done.stdout
    assert secured.password not in done.stdout + done.stderr
