"""Microsoft's identifiers the rules compare against.

The same values as association/identifiers.py, which the pack cannot import: it runs in
its own virtualenv, without the program's dependencies (tests/test_policy.py pins them).
"""

from __future__ import annotations

from typing import Final

EXCHANGE_ONLINE_APP_ID: Final = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS_AS_APP: Final = "full_access_as_app"
FULL_ACCESS_AS_APP_ROLE_ID: Final = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
APP_ROLE_TYPE: Final = "Role"
SCOPE_TYPE: Final = "Scope"
SINGLE_TENANT_AUDIENCE: Final = "AzureADMyOrg"
KEY_CREDENTIAL_TYPE: Final = "AsymmetricX509Cert"
