"""The program and the policy pack pin the same Pulumi SDK.

The pipelines install the Pulumi CLI at the version `requirements.txt` pins; the policy
pack runs in its own virtualenv (`policy/requirements.txt`) under that same CLI, so its
`pulumi` must not drift from the program's.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PULUMI_PIN = re.compile(r"^pulumi\s*==\s*(?P<version>[^\s;]+)", re.IGNORECASE)


def pulumi_pins(text: str) -> list[str]:
    """The versions of `pulumi==` pinned in a requirements text (comments ignored)."""
    versions = []
    for line in text.splitlines():
        match = PULUMI_PIN.match(line.split("#", 1)[0].strip())
        if match:
            versions.append(match.group("version"))
    return versions


def pinned_pulumi(relative: str) -> str:
    (version,) = pulumi_pins((ROOT / relative).read_text(encoding="utf-8"))
    return version


def test_pulumi_pins_reads_only_the_pulumi_package() -> None:
    text = "# pulumi==0.0.1 is old\npulumi-azuread==6.11.1\nPulumi == 3.1.0 ; python_version>'3'\n"
    assert pulumi_pins(text) == ["3.1.0"]


def test_program_and_policy_pack_pin_the_same_pulumi() -> None:
    program = pinned_pulumi("requirements.txt")
    policy = pinned_pulumi("policy/requirements.txt")
    assert program == policy, (
        f"requirements.txt pins pulumi=={program} but policy/requirements.txt pins "
        f"pulumi=={policy}: pin the same version in both"
    )
