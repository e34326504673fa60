"""An Apple configuration profile (.mobileconfig, a property list) with one mail
account (payload type com.apple.mail.managed), for iPhone, iPad and macOS.

No password is in it: the device asks for it when the profile is installed.
The profile is unsigned, so the device shows it as "Not Verified". Its
identifiers are derived from host and account, so downloading it again and
installing it replaces the earlier one instead of adding a second account.
"""

from __future__ import annotations

import plistlib
import uuid
from dataclasses import dataclass

from postel.clientsetup.errors import BadSetupRequest
from postel.clientsetup.services import ClientServices

MEDIA_TYPE = "application/x-apple-aspen-config"
_NAMESPACE = uuid.UUID("6f1d2a43-5b0e-4c55-9a57-706f7374656c")  # postel's own, fixed


@dataclass(frozen=True)
class MailAccount:
    address: str  # also the login name of IMAP and submission
    full_name: str
    account: str  # postel's account name, for stable identifiers


def _reverse(hostname: str) -> str:
    return ".".join(reversed(hostname.split(".")))


def mobileconfig(services: ClientServices, acc: MailAccount) -> bytes:
    """The profile as XML property list bytes."""
    if not services.usable:
        raise BadSetupRequest("no public listener offers both IMAP and submission", where="profile")
    imap, smtp = services.imap[0], services.submission[0]
    key = f"{services.hostname}/{acc.account}"
    ident = f"{_reverse(services.hostname)}.postel.{acc.account}"
    mail = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.mail",
        "PayloadUUID": str(uuid.uuid5(_NAMESPACE, key + "/mail")).upper(),
        "PayloadDisplayName": f"Mail: {acc.address}",
        "EmailAccountDescription": acc.address,
        "EmailAccountName": acc.full_name,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": acc.address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": services.hostname,
        "IncomingMailServerPortNumber": imap.port,
        # SSL on: TLS is required (the preferred endpoints are the implicit-TLS ones).
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": acc.address,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": services.hostname,
        "OutgoingMailServerPortNumber": smtp.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": acc.address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": ident,
        "PayloadUUID": str(uuid.uuid5(_NAMESPACE, key)).upper(),
        "PayloadDisplayName": f"{acc.address} ({services.hostname})",
        "PayloadDescription": f"Mail account {acc.address} on {services.hostname}. "
        "The password is asked for when installing.",
        "PayloadOrganization": services.hostname,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [mail],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


def filename(acc: MailAccount) -> str:
    """A download file name made of safe characters only."""
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "._-@" else "-" for c in acc.address)
    return f"{safe}.mobileconfig"
