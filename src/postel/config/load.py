"""Loading and checking postel.toml and domains.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from postel.config.domains import DomainsConfig
from postel.config.errors import ConfigError, ConfigProblem
from postel.config.locate import find_line
from postel.config.model import Listener, StaticConfig
from postel.datadir import DataDir

STATIC_FILE = "postel.toml"
DOMAINS_FILE = "domains.toml"

M = TypeVar("M", bound=BaseModel)


@dataclass
class Config:
    """Both configuration files, validated, with the directory they came from."""

    dir: Path
    static: StaticConfig
    domains: DomainsConfig

    def path(self, relative: str) -> Path:
        """A path from the config, relative to the config directory."""
        p = Path(relative)
        return p if p.is_absolute() else self.dir / p

    @property
    def datadir(self) -> DataDir:
        return DataDir(self.path(self.static.data_dir))

    @property
    def domains_file(self) -> Path:
        return self.dir / DOMAINS_FILE

    def account_quota(self, account: str) -> int:
        """The quota of *account* in bytes (domains.toml ``quota``; 0: none or
        not configured), read afresh so that a reload applies at once."""
        acc = self.domains.accounts.get(account)
        return acc.quota if acc is not None else 0

    def tls_pairs(self, lst: Listener) -> list[tuple[Path, Path]]:
        """The (chain, key) files *lst* serves: its own, else ACME's (postel.acme)."""
        from postel.acme.storage import listener_pairs

        return listener_pairs(
            lst.tls_cert_file,
            lst.tls_key_file,
            self.static.acme.enabled,
            self.path,
            self.datadir.root,
        )

    def listener_cert_files(self) -> dict[str, list[Path]]:
        """The certificate (chain) files each listener serves, by listener name."""
        return {
            name: [cert for cert, _key in self.tls_pairs(lst)]
            for name, lst in self.static.listeners.items()
        }


def _parse(path: Path, model: type[M], problems: list[ConfigProblem]) -> M | None:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(ConfigProblem(str(path), None, "", "file not found"))
        return None
    except PermissionError:
        todo = "make it readable by the user postel runs as"
        problems.append(ConfigProblem(str(path), None, "", f"permission denied; {todo}"))
        return None
    except OSError as exc:
        problems.append(ConfigProblem(str(path), None, "", f"cannot read: {exc.strerror or exc}"))
        return None
    except UnicodeDecodeError as exc:
        problems.append(ConfigProblem(str(path), None, "", f"cannot read: {exc}"))
        return None
    try:
        data: dict[str, Any] = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        lineno = getattr(exc, "lineno", None)
        if lineno is None:
            # "... (at line 3, column 7)" in the message on Python 3.11
            msg = str(exc)
            if "(at line " in msg:
                lineno = int(msg.rsplit("(at line ", 1)[1].split(",")[0])
        problems.append(ConfigProblem(str(path), lineno, "", f"TOML syntax error: {exc}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            field = ".".join(str(p) for p in loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append(ConfigProblem(str(path), find_line(source, loc), field, msg))
        return None


def _cross_check(cfg: Config, problems: list[ConfigProblem]) -> None:
    static_file = str(cfg.dir / STATIC_FILE)
    domains_file = str(cfg.domains_file)
    static_src = (cfg.dir / STATIC_FILE).read_text(encoding="utf-8")
    domains_src = cfg.domains_file.read_text(encoding="utf-8")

    def static_problem(loc: list[str], msg: str) -> None:
        problems.append(ConfigProblem(static_file, find_line(static_src, loc), ".".join(loc), msg))

    def domains_problem(loc: list[str], msg: str) -> None:
        problems.append(
            ConfigProblem(domains_file, find_line(domains_src, loc), ".".join(loc), msg)
        )

    s, d = cfg.static, cfg.domains
    if s.postmaster_account not in d.accounts:
        static_problem(["postmaster_account"], f"unknown account {s.postmaster_account!r}")
    if s.host_tlsrpt.localpart and s.host_tlsrpt.account not in d.accounts:
        static_problem(["host_tlsrpt", "account"], f"unknown account {s.host_tlsrpt.account!r}")
    for name, lst in s.listeners.items():
        uses_tls = (
            lst.smtp.enabled
            or lst.submission.enabled
            or lst.submissions.enabled
            or lst.imap.enabled
            or lst.imaps.enabled
            or (lst.web.enabled and lst.web.tls)
        )
        for key in ("tls_cert_file", "tls_key_file"):
            value = getattr(lst, key)
            if not value:
                if uses_tls and not s.acme.enabled:
                    static_problem(["listeners", name, key], "required for TLS")
            elif not cfg.path(value).is_file():
                static_problem(
                    ["listeners", name, key],
                    f"file not found: {cfg.path(value)}; create it or correct the path",
                )
    if s.acme.enabled:
        https = any(lst.web.enabled and lst.web.tls for lst in s.listeners.values())
        if s.acme.challenge == "tls-alpn-01" and not https:
            static_problem(
                ["acme", "challenge"],
                "tls-alpn-01 is answered on an HTTPS web listener (port 443), and none is "
                "configured; add one or use http-01 with http01_port",
            )
        if s.acme.challenge == "http-01" and not s.acme.http01_port:
            static_problem(["acme", "http01_port"], "http-01 needs http01_port (80 in practice)")
        clash = [
            n
            for n, lst in s.listeners.items()
            if lst.web.enabled and lst.web.tls and lst.web.port == s.acme.http01_port
        ]
        if s.acme.http01_port and clash:
            # A plain-HTTP web listener on that port answers the tokens itself.
            static_problem(
                ["acme", "http01_port"],
                f"port {s.acme.http01_port} is the HTTPS web port of listener {clash[0]!r} "
                "too; http-01 is plain HTTP (a plain web listener on that port answers it)",
            )
        for key in ("eab_hmac_key_file", "ca_file"):
            value = getattr(s.acme, key)
            if value and not cfg.path(value).is_file():
                static_problem(["acme", key], f"file not found: {cfg.path(value)}")
        if bool(s.acme.eab_kid) != bool(s.acme.eab_hmac_key_file):
            static_problem(["acme", "eab_kid"], "eab_kid and eab_hmac_key_file go together")
    for ca in s.tls.extra_ca_files:
        if not cfg.path(ca).is_file():
            static_problem(["tls", "extra_ca_files"], f"file not found: {cfg.path(ca)}")
    for dname, dom in d.domains.items():
        for sel, selector in dom.dkim.selectors.items():
            key_path = cfg.path(selector.key_file)
            loc = ["domains", dname, "dkim", "selectors", sel, "key_file"]
            if not key_path.is_file():
                domains_problem(loc, f"file not found: {key_path}")
                continue
            from postel.config.keys import KeyFileError, load_private_key

            try:
                load_private_key(key_path, selector.algorithm)
            except KeyFileError as exc:
                domains_problem(loc, str(exc))


def load_static(config_dir: Path) -> StaticConfig:
    """postel.toml alone, validated but not cross-checked (no files opened): for
    commands that need one setting, such as the resolver, and not the instance."""
    problems: list[ConfigProblem] = []
    static = _parse(Path(config_dir).resolve() / STATIC_FILE, StaticConfig, problems)
    if static is None:
        raise ConfigError(problems)
    return static


def load_config(config_dir: Path) -> Config:
    """Load and check both files; raise ConfigError listing every problem."""
    config_dir = Path(config_dir).resolve()
    problems: list[ConfigProblem] = []
    static = _parse(config_dir / STATIC_FILE, StaticConfig, problems)
    domains = _parse(config_dir / DOMAINS_FILE, DomainsConfig, problems)
    if static is None or domains is None:
        raise ConfigError(problems)
    cfg = Config(dir=config_dir, static=static, domains=domains)
    _cross_check(cfg, problems)
    if problems:
        raise ConfigError(problems)
    return cfg
