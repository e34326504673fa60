"""Client setup: the settings a mail app needs, in the formats apps fetch them.

Pure: builders take a ClientServices (which ports on which host) and return
bytes; postel.web.autoconfig and the webmail's settings page serve them.
docs/client-setup.md says what is served where.
"""

from postel.clientsetup.errors import BadSetupRequest, SetupRequestTooLarge
from postel.clientsetup.services import ClientServices, Endpoint, client_services

__all__ = [
    "BadSetupRequest",
    "ClientServices",
    "Endpoint",
    "SetupRequestTooLarge",
    "client_services",
]
