"""
The users every test Keystone has, and how to log in as them.

After start, a L{KeystoneServer <txzaqar.testing.servers.keystone.KeystoneServer>}
holds (all in domain C{default})::

    user   password      project  roles
    admin  admin-secret  admin    admin (+ system)
    zaqar  zaqar-secret  service  service, admin
    demo   demo-secret   demo     member
    alt    alt-secret    alt      member
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADMIN",
    "ALT",
    "DEMO",
    "REGION",
    "SERVICE",
    "USERS",
    "KeystoneCredentials",
    "KeystoneUser",
]

#: The region of every endpoint in a test Keystone's catalog.
REGION = "RegionOne"


@dataclass(frozen=True)
class KeystoneUser:
    """A user with a password, scoped to one project (all in domain C{default})."""

    #: The user's name.
    username: str
    #: The user's password.
    password: str
    #: The project the user is scoped to.
    project_name: str
    #: The user's domain.
    user_domain_id: str = "default"
    #: The project's domain.
    project_domain_id: str = "default"

    def __repr__(self) -> str:
        return f"KeystoneUser({self.username!r}, project={self.project_name!r}, password=<hidden>)"

    def auth_kwargs(self, auth_url: str) -> dict[str, str]:
        """Keyword arguments for C{keystoneauth1.identity.v3.Password}."""
        return {
            "auth_url": auth_url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_id": self.user_domain_id,
            "project_domain_id": self.project_domain_id,
        }

    def os_env(self, auth_url: str, region: str = REGION) -> dict[str, str]:
        """The C{OS_*} environment variables OpenStack tools read for this user."""
        return {
            "OS_AUTH_TYPE": "password",
            "OS_AUTH_URL": auth_url,
            "OS_USERNAME": self.username,
            "OS_PASSWORD": self.password,
            "OS_PROJECT_NAME": self.project_name,
            "OS_USER_DOMAIN_ID": self.user_domain_id,
            "OS_PROJECT_DOMAIN_ID": self.project_domain_id,
            "OS_REGION_NAME": region,
            "OS_IDENTITY_API_VERSION": "3",
        }

    def auth_body(self, scope: str = "project") -> dict[str, Any]:
        """A C{POST /v3/auth/tokens} body (C{scope}: "project" or "system")."""
        auth: dict[str, Any] = {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": self.username,
                        "domain": {"id": self.user_domain_id},
                        "password": self.password,
                    }
                },
            }
        }
        if scope == "system":
            auth["scope"] = {"system": {"all": True}}
        else:
            auth["scope"] = {"project": {"name": self.project_name, "domain": {"id": self.project_domain_id}}}
        return {"auth": auth}


@dataclass(frozen=True)
class KeystoneCredentials:
    """Everybody a L{KeystoneServer <txzaqar.testing.servers.keystone.KeystoneServer>} knows, and where."""

    #: The identity v3 URL.
    auth_url: str
    #: The region of every endpoint in the catalog.
    region: str
    #: The admin user (admin role on project C{admin}).
    admin: KeystoneUser
    #: Zaqar's own service user.
    service: KeystoneUser  # Zaqar's own service user
    #: A user on project C{demo}.
    demo: KeystoneUser
    #: A user on project C{alt}, for tests across projects.
    alt: KeystoneUser

    def user(self, name: str) -> KeystoneUser:
        """
        The user called C{name}.

        @raise KeyError: none is.
        """
        for u in (self.admin, self.service, self.demo, self.alt):
            if u.username == name:
                return u
        raise KeyError(name)


#: The admin user made by C{keystone-manage bootstrap}.
ADMIN = KeystoneUser("admin", "admin-secret", "admin")
#: Zaqar's service user.
SERVICE = KeystoneUser("zaqar", "zaqar-secret", "service")
#: The user of project C{demo}.
DEMO = KeystoneUser("demo", "demo-secret", "demo")
#: The user of project C{alt}.
ALT = KeystoneUser("alt", "alt-secret", "alt")
#: (user, roles) created in every Keystone after start (ADMIN comes from bootstrap)
USERS: tuple[tuple[KeystoneUser, tuple[str, ...]], ...] = (
    (SERVICE, ("service", "admin")),
    (DEMO, ("member",)),
    (ALT, ("member",)),
)

