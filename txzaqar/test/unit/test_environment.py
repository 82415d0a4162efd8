"""
L{txzaqar.auth._environment}: the only reader of the C{OS_*} variables.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.auth import _environment


class EnvironmentTests(SynchronousTestCase):
    """L{_environment}: the one module that reads C{OS_*} and C{ZAQAR_URL}."""

    def test_empty_is_unset(self) -> None:
        self.assertIsNone(_environment.variable("OS_CLOUD", {"OS_CLOUD": ""}))
        self.assertIsNone(_environment.zaqar_url({}))
        self.assertEqual(_environment.zaqar_url({"ZAQAR_URL": "http://z"}), "http://z")

    def test_process_environment_read_at_each_call(self) -> None:
        self.patch(_environment.os, "environ", {"OS_PROJECT_ID": "p1"})
        self.assertEqual(_environment.variable("OS_PROJECT_ID"), "p1")

    def test_insecure(self) -> None:
        for value, expected in (("1", True), ("TRUE", True), ("yes", True), ("0", False), ("", False)):
            self.assertIs(_environment.insecure({"OS_INSECURE": value}), expected)
        self.assertFalse(_environment.insecure({}))

    def test_keystone_options(self) -> None:
        env = {"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "demo", "OS_PASSWORD": "", "OS_OTHER": "x",
               "OS_INTERFACE": "internalURL", "OS_REGION_NAME": "R1", "OS_INSECURE": "true"}
        self.assertEqual(
            _environment.keystone_options(["auth_url", "username", "password"], env),
            {"auth_url": "http://k/v3", "username": "demo", "interface": "internal",
             "region_name": "R1", "insecure": True},
        )
