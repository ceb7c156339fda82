"""A private redis-server on a free loopback port that requires a password, for the Redis
authentication tests (the machine's shared Redis is never given one)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivateRedis:
    port: int
    password: str

    def url(self, user: str = "", password: str | None = None, db: int = 0) -> str:
        """The URL of ``user`` (the default user when empty) with ``password`` (the server's by default)."""
        password = self.password if password is None else password
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def admin(self) -> redis.Redis:
        return redis.Redis.from_url(self.url(), decode_responses=True)


@contextmanager
def private_redis(directory: Path, acl: tuple[str, ...] = ()) -> Iterator[PrivateRedis]:
    """Run redis-server with ``requirepass`` (a generated password) in ``directory``, apply each
    ``ACL SETUSER`` line of ``acl`` (its ``PASSWORD`` replaced by the server's), and stop it after."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    server = PrivateRedis(port=_free_port(), password=secrets.token_hex(16))
    config = directory / "redis.conf"
    # The password is in a file only this user can read, never on a command line (ps shows those).
    config.write_text(
        f'port {server.port}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir {directory}\nrequirepass {server.password}\n'
    )
    os.chmod(config, 0o600)
    log = (directory / "redis.log").open("wb")
    process = subprocess.Popen(["redis-server", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        admin = server.admin()
        deadline = time.monotonic() + 10
        while True:
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        for line in acl:
            words = line.replace("PASSWORD", server.password).split()
            assert words[:2] == ["ACL", "SETUSER"], line
            admin.execute_command(*words)
        admin.close()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
