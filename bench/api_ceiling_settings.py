"""Settings of the API ceiling server (``bench_api_orders``): the product's own, with the order
POST answered by ``bench.api_ceiling_urls`` instead."""

from tradeconsole.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_ceiling_urls"
