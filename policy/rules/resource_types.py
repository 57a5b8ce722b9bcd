"""The resource types the rules look at, as in the pulumi-azuread schema."""

from __future__ import annotations

from typing import Final

APPLICATION: Final = "azuread:index/application:Application"
APPLICATION_API_ACCESS: Final = "azuread:index/applicationApiAccess:ApplicationApiAccess"
APPLICATION_REGISTRATION: Final = "azuread:index/applicationRegistration:ApplicationRegistration"
APPLICATION_CERTIFICATE: Final = "azuread:index/applicationCertificate:ApplicationCertificate"
APPLICATION_PASSWORD: Final = "azuread:index/applicationPassword:ApplicationPassword"
SERVICE_PRINCIPAL: Final = "azuread:index/servicePrincipal:ServicePrincipal"
SERVICE_PRINCIPAL_PASSWORD: Final = (
    "azuread:index/servicePrincipalPassword:ServicePrincipalPassword"
)
APP_ROLE_ASSIGNMENT: Final = "azuread:index/appRoleAssignment:AppRoleAssignment"
