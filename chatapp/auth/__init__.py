"""Login: the pure rules (rules.py), who is acting in a request or page (logins.py), and the OAuth/OIDC
flow with its routes and middleware (flow.py). With no provider configured the app runs in single-user
local mode and everyone is the local user; otherwise every page needs a login."""

from fastapi import FastAPI

from chatapp.auth.flow import OAuthFlow, add_routes
from chatapp.auth.logins import Logins
from chatapp.services import Services


def setup(app: FastAPI, services: Services) -> Logins:
    """Register the login routes (and the login every page needs when a provider is configured)."""
    logins = Logins(services)
    add_routes(app, OAuthFlow(services, logins))
    return logins
