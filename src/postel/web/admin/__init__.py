"""The web admin: login, domains and accounts, DNS records and check,
reports, outgoing TLS results, MTA-STS cache, queue, suppression list."""

from postel.web.admin.routes import routes
from postel.web.admin.state import AdminState

__all__ = ["AdminState", "routes"]
