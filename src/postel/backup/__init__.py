"""backup: a consistent copy of config and data of a running instance."""

from postel.backup.errors import BackupError, DestinationExists
from postel.backup.run import Summary, backup

__all__ = ["BackupError", "DestinationExists", "Summary", "backup"]
