"""verifydata's look at data/acme/ and data/certs/ (postel.acme.storage)."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from postel.acme.storage import KINDS, CertStore, load_host_key


def expected_files(store: CertStore) -> set[Path]:
    from postel.acme.status import status_file

    out = {store.account_key_file, store.account_file, status_file(store)}
    for kind in KINDS:
        out |= {store.key_file(kind), store.cert_file(kind), store.next_key_file(kind)}
        out.add(store.certs_dir / f"{kind}.next.crt")  # staged during a rollover
    return out


def check_key_files(root: Path) -> tuple[list[str], set[Path]]:
    """Problems with the key and certificate files, and the paths known here
    (present or not); other files in those directories stay unknown."""
    store = CertStore(root)
    problems: list[str] = []
    known = expected_files(store)
    for path in sorted(p for p in known if p.exists()):
        rel = path.relative_to(root)
        try:
            if path.suffix == ".key":
                load_host_key(path)
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as exc:
            problems.append(f"{rel}: cannot be read: {exc}")
    for kind in KINDS:
        cert_path, key_path = store.cert_file(kind), store.key_file(kind)
        if not cert_path.exists():
            continue
        rel = cert_path.relative_to(root)
        try:
            leaf = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: not a PEM certificate chain: {exc}")
            continue
        try:
            key = load_host_key(key_path)
        except (OSError, ValueError, TypeError):
            continue  # reported above, or missing:
        if leaf.public_key() != key.public_key():
            problems.append(
                f"{rel}: its certificate is not for the key {key_path.relative_to(root)}"
            )
    for kind in KINDS:
        if store.cert_file(kind).exists() and not store.key_file(kind).exists():
            problems.append(f"{store.key_file(kind).relative_to(root)}: missing")
    return problems, known
