"""Mimecast Office 365 association: the Entra ID application Mimecast server connections use.

The package turns Mimecast's guide "Creating an Office 365 Association for Server
Connections" into a Pulumi component (`MimecastAssociation`) and the checks it makes before
declaring anything. It is what `pulumi up` loads; the operations tools (preflight, drift,
audit) live in `association_tools`.

`from association import MimecastAssociation, AssociationArgs` works as usual; the names are
loaded on first use because Python imports this package before it runs `association/__main__.py`:
so `python -m association drift` starts without the Pulumi SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from association.component import MimecastAssociation
    from association.component_args import AssociationArgs

__all__ = ["AssociationArgs", "MimecastAssociation"]

_LAZY = {
    "MimecastAssociation": "association.component",
    "AssociationArgs": "association.component_args",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'association' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
