"""The ASGI application: HTTP through Django, WebSockets through Channels."""

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeconsole.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry ready)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from streams.serving import serving_heartbeat_start  # noqa: E402
from tradeconsole.routing import websocket_urlpatterns  # noqa: E402
from tradeconsole.startup_memory import freeze_startup_objects  # noqa: E402
from tradeconsole.ws_origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The host must be allowed, and the origin the console's own, port included.
        "websocket": AllowedHostsOriginValidator(
            SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Served by daphne's command line (the Procfile's web; "daphne" alone is imported by every process,
# it is an installed app): the Desk lists the process by its heartbeat (issue 22).
if "daphne.cli" in sys.modules:
    serving_heartbeat_start("web")
    # Django, the apps and the routes live as long as the server: unscanned by full collections,
    # which otherwise paused every page's updates for about 100 ms (bench market_topics).
    freeze_startup_objects()
