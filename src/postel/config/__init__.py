"""Configuration: postel.toml (static) and domains.toml (domains, accounts)."""

from postel.config.domains import Account, Domain, DomainsConfig
from postel.config.errors import ConfigError, ConfigProblem
from postel.config.load import Config, load_config
from postel.config.model import Listener, StaticConfig

__all__ = [
    "Account",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "Domain",
    "DomainsConfig",
    "Listener",
    "StaticConfig",
    "load_config",
]
