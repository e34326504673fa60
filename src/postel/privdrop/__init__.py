"""Least privilege for `postel serve`: bind as root, then run as an unprivileged user.

Started as root, serve binds every listening socket, then switches to
``[server] user`` (supplementary groups, group, user: in that order, and
for good) before it reads the data directory or talks to the network.
Started as any other user it runs as it is.
"""

from postel.privdrop.drop import drop_privileges, running_as_root, warn_staying_root
from postel.privdrop.errors import PrivDropError
from postel.privdrop.ownership import hand_over, hand_over_config
from postel.privdrop.trust import check_config_trusted
from postel.privdrop.user import RunAs, lookup_user

__all__ = [
    "PrivDropError",
    "RunAs",
    "check_config_trusted",
    "drop_privileges",
    "hand_over",
    "hand_over_config",
    "lookup_user",
    "running_as_root",
    "warn_staying_root",
]
