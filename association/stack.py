"""The stack program's settings: this stack's config read through Pulumi, refused as a whole.

Apart from `association.settings` so that reading and checking settings needs no Pulumi.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from association.clock import current_time
from association.component_args import AssociationArgs
from association.refusal import Refusal
from association.settings import SETTINGS, SettingsError, read_settings


def load_stack_settings(project_dir: Path) -> AssociationArgs:
    """Read this stack's config, or stop the run with every problem in one `RunError`."""
    raw = {s.key: text for s in SETTINGS if (text := pulumi.runtime.get_config(s.key)) is not None}
    try:
        return read_settings(raw, project_dir, current_time())
    except SettingsError as error:
        raise Refusal(error.problems) from None
