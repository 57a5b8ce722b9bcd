"""The plan once refused certificates (and the example's placeholder tenant) are replaced.

A stack whose only errors are its certificates or the nil-GUID tenant still shows what `pulumi
up` would do once they are fixed: each refused certificate is swapped for a throwaway one valid
at `now`, the placeholder for a stand-in tenant ID, and the real program runs; every value
derived from a stand-in is then shown as coming from the replacement, never as itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from association.certificate_checks import validity_problems
from association.component_args import AssociationArgs, settings_key
from association.identifiers import NIL_GUID, TENANT_KEY
from association.settings import SETTINGS, SettingsError, read_settings, typed_value
from association_tools.offline import ProgramRun
from association_tools.preflight.plan import STAND_IN_TENANT, plan_of, stand_in, stand_in_masks
from association_tools.preflight.report import Basis, Plan

Run = Callable[[Mapping[str, str]], ProgramRun]
"""Runs the program for this stack with the given config."""


def replacement_plan(
    config: Mapping[str, str], args: AssociationArgs, project_dir: Path, now: datetime, run: Run
) -> Plan | None:
    """The plan with stand-ins for what was refused, when nothing else stands in the way."""
    key = settings_key("certificates")
    declared = next(s for s in SETTINGS if s.key == key)
    entries: list[str] = typed_value(declared, config.get(key), [])
    loaded = {cert.key: cert for cert in args.certificates}
    refused = [
        index
        for index in range(len(entries))
        if (cert := loaded.get(f"{key}[{index}]")) is None or validity_problems(cert, now)
    ]
    placeholder = config.get(TENANT_KEY) == NIL_GUID
    if not refused and not placeholder:
        return None
    stand_ins = {index: stand_in(index, now) for index in refused}
    replaced = [
        stand_ins[index].pem if index in stand_ins else entry for index, entry in enumerate(entries)
    ]
    candidate = {**config, key: json.dumps(replaced)}
    if placeholder:
        candidate[TENANT_KEY] = STAND_IN_TENANT
    try:
        read_settings(candidate, project_dir, now)
    except SettingsError:
        return None  # something else is wrong too: no plan is honest
    result = run(candidate)
    if result.error is not None:
        return None
    names = [f"certificates[{index}]" for index in refused]
    what = " and ".join(names) + (" is" if len(names) == 1 else " are") + " replaced"
    if placeholder:
        what = " and ".join(filter(None, [what if names else "", f"{TENANT_KEY} is set"]))
    description = (
        f"As configured, pulumi up declares nothing. Once {what}, it would declare and export "
        "this; values marked as from the replacement come from it."
    )
    basis: Basis = "replacementCertificates" if refused else "replacementTenant"
    return plan_of(result, basis, description, stand_in_masks(stand_ins, placeholder))
