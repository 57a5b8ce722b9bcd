"""The stdlib scripts' own copies of the product's constants, pinned to the product's.

`scripts/tenant.py` and `scripts/fleet.py` run before anything is installed (a fresh clone, no
venv), so they cannot import the product and keep copies; each must say what the product says.
"""

from __future__ import annotations

from pathlib import Path

from fake_pulumi import load_script

from association import identifiers
from association.adoption import Adoption
from association.adoption_checks import GRAPH, owner_step
from association_tools.project import STACK_NAME

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_tenant_script_copies_match_the_product() -> None:
    tenant = load_script("tenant_script", SCRIPTS / "tenant.py")
    onboarding = load_script("onboarding", SCRIPTS / "onboarding.py")
    assert tenant.STACK_NAME.pattern == STACK_NAME.pattern
    assert onboarding.EXCHANGE_ONLINE_APP_ID == identifiers.EXCHANGE_ONLINE_APP_ID
    assert onboarding.FULL_ACCESS_AS_APP_ROLE_ID == identifiers.FULL_ACCESS_AS_APP_ROLE_ID
    assert onboarding.DEFAULT_DISPLAY_NAME == identifiers.DEFAULT_DISPLAY_NAME
    for value in ("11111111-2222-3333-4444-555555555555", "not-a-guid", "A" * 36):
        assert bool(tenant.GUID.fullmatch(value)) == identifiers.is_guid(value)
    # The recipe's owner step is the program's, with placeholders for the ids.
    assert onboarding.GRAPH == GRAPH
    placeholders = Adoption("<applicationObjectId>", "<servicePrincipalObjectId>", "x")
    for owner in ("<ownerObjectId>", "aaaaaaaa-0000-0000-0000-000000000001"):
        assert onboarding.owner_step(owner) == owner_step(placeholders, [owner])


def test_fleet_script_guid_rule_matches_the_product() -> None:
    fleet = load_script("fleet_guard", SCRIPTS / "fleet_guard.py")
    for value in ("11111111-2222-3333-4444-555555555555", "not-a-guid", "A" * 36, ""):
        assert bool(fleet.GUID.fullmatch(value)) == identifiers.is_guid(value)
