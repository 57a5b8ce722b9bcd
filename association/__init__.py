"""Mimecast Office 365 association: the Entra ID application Mimecast server connections use.

The package turns Mimecast's guide "Creating an Office 365 Association for Server
Connections" into a Pulumi component (`MimecastAssociation`) plus the checks and
tools around it. Import the component from here to use it in another program.
"""

from association.component import MimecastAssociation
from association.component_args import AssociationArgs

__all__ = ["AssociationArgs", "MimecastAssociation"]
