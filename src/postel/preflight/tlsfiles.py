"""Can a listener's certificate and key be read, and do they belong together?"""

from __future__ import annotations

import errno
import ssl
from pathlib import Path

from postel.preflight.errors import StartupError


def check_pair(cert: Path, key: Path, listener: str, config_file: str) -> None:
    """Load *cert* with *key* as a TLS server would; raise StartupError saying what to do."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An encrypted key fails here instead of asking on the terminal.
        ctx.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:  # before OSError, its base class
        raise _tls_error(exc, cert, key, listener, config_file) from None
    except OSError as exc:
        raise _file_error(exc, cert, key, listener, config_file) from None


def _setting(path: Path, cert: Path, listener: str) -> str:
    return f"listeners.{listener}.{'tls_cert_file' if path == cert else 'tls_key_file'}"


def _unreadable(cert: Path, key: Path) -> tuple[Path, OSError] | None:
    """Which of the two files cannot be opened, and why (ssl does not say)."""
    for path in (cert, key):
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            return path, exc
    return None


def _file_error(
    exc: OSError, cert: Path, key: Path, listener: str, config_file: str
) -> StartupError:
    found = _unreadable(cert, key)
    path, err = found if found is not None else (cert, exc)
    setting = f"{_setting(path, cert, listener)} in {config_file}"
    if err.errno in (errno.EACCES, errno.EPERM):
        return StartupError(
            f"{path}: permission denied ({setting}); make it readable by the user postel runs as"
        )
    if err.errno == errno.ENOENT:
        return StartupError(f"{path}: file not found ({setting}); create it or correct {setting}")
    return StartupError(f"{path}: cannot read: {err.strerror or err} ({setting})")


def _tls_error(
    exc: ssl.SSLError, cert: Path, key: Path, listener: str, config_file: str
) -> StartupError:
    if exc.reason == "KEY_VALUES_MISMATCH":
        return StartupError(
            f"{key}: this private key does not belong to the certificate {cert} "
            f"(listener {listener!r} in {config_file}); configure the key the certificate "
            "was issued for, or a certificate for this key"
        )
    found = _unreadable(cert, key)
    if found is not None:
        return _file_error(found[1], cert, key, listener, config_file)
    # Which file is at fault: the certificate loads on its own when it is fine.
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cert)
    except ssl.SSLError:
        return StartupError(
            f"{cert}: not a PEM certificate ({_setting(cert, cert, listener)} in {config_file}); "
            "configure the certificate chain in PEM format"
        )
    return StartupError(
        f"{key}: not a usable PEM private key ({_setting(key, cert, listener)} in {config_file}); "
        "configure the key in PEM format, unencrypted"
    )
