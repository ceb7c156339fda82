"""The broker loop's settings, read from Django's (``MARKETDATA_*`` beside ``TWS_HOST``/``TWS_PORT``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class BrokerSettings:
    """Where TWS is, as whom to connect, how far back to fill; times in seconds."""

    host: str
    port: int
    client_id: int
    prefix: str
    backfill_days: int = 5
    connect_timeout: float = 5.0
    request_timeout: float = 60.0
    retry_delay: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    rescan_interval: float = 900.0

    @classmethod
    def from_django(cls) -> BrokerSettings:
        """The settings of this deployment.

        :raises ImproperlyConfigured: the marketdata client id is the execution worker's (TWS would
            refuse the second session with 326, and history would spend the order path's budget).
        """
        client_id = settings.MARKETDATA_TWS_CLIENT_ID
        if client_id == settings.TWS_CLIENT_ID:
            raise ImproperlyConfigured(
                f"MARKETDATA_TWS_CLIENT_ID ({client_id}) must differ from TWS_CLIENT_ID, the execution worker's."
            )
        return cls(
            host=settings.TWS_HOST,
            port=settings.TWS_PORT,
            client_id=client_id,
            prefix=settings.STREAM_PREFIX,
            backfill_days=settings.MARKETDATA_BACKFILL_DAYS,
        )
