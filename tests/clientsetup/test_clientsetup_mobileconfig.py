"""The Apple configuration profile (postel.clientsetup.mobileconfig), read by plistlib."""

from __future__ import annotations

import plistlib
import uuid

import pytest

from postel.clientsetup import BadSetupRequest, ClientServices, Endpoint
from postel.clientsetup.mobileconfig import MailAccount, filename, mobileconfig

SERVICES = ClientServices(
    "mail.example.org",
    (Endpoint(993, "tls"), Endpoint(143, "starttls")),
    (Endpoint(465, "tls"), Endpoint(587, "starttls")),
)
ACC = MailAccount(address="you@example.org", full_name="You Too", account="you")


def test_profile_has_the_mail_payload() -> None:
    profile = plistlib.loads(mobileconfig(SERVICES, ACC))
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    assert profile["PayloadIdentifier"] == "org.example.mail.postel.you"
    uuid.UUID(profile["PayloadUUID"])
    [mail] = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    uuid.UUID(mail["PayloadUUID"])
    assert mail["PayloadUUID"] != profile["PayloadUUID"]
    want = {
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": "you@example.org",
        "EmailAccountName": "You Too",
        "IncomingMailServerHostName": "mail.example.org",
        "IncomingMailServerPortNumber": 993,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": "you@example.org",
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": "mail.example.org",
        "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": "you@example.org",
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    assert {k: mail[k] for k in want} == want
    # No password in it: the device asks when installing.
    assert not [
        k for k in mail if "Password" in k and k != "OutgoingPasswordSameAsIncomingPassword"
    ]


def test_profile_is_stable_per_account() -> None:
    assert mobileconfig(SERVICES, ACC) == mobileconfig(SERVICES, ACC)
    other = plistlib.loads(mobileconfig(SERVICES, MailAccount("b@example.org", "", "b")))
    assert other["PayloadUUID"] != plistlib.loads(mobileconfig(SERVICES, ACC))["PayloadUUID"]


def test_no_profile_without_imap_and_submission() -> None:
    with pytest.raises(BadSetupRequest):
        mobileconfig(ClientServices("mail.example.org", (Endpoint(993, "tls"),), ()), ACC)


def test_filename_is_safe() -> None:
    assert filename(ACC) == "you@example.org.mobileconfig"
    assert filename(MailAccount('ü"x\r\n@example.org', "", "x")) == "--x--@example.org.mobileconfig"
