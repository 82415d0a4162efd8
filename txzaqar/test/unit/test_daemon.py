"""
Tests for the C{twistd zaqar-listen} plugin and L{txzaqar.daemon._service}.
"""

from __future__ import annotations

import importlib.metadata
import json
import signal
import sys
from pathlib import Path
from typing import Any

from twisted.application.service import IServiceMaker
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from twisted.plugin import IPlugin, getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import twisted.plugins
import txzaqar
from txzaqar.daemon import _service as _tap
from txzaqar.daemon._credentials import keystone_from_settings
from txzaqar.daemon._listener import ListenerService
from txzaqar.subscriber import Subscriber
from txzaqar.subscriber.slots import runs_on_reactor
from txzaqar.test.helpers.options import GOOD, parse
from txzaqar.testing.servers.pki import make_test_pki

#: Where twisted/plugins/txzaqar_plugins.py lives: next to the txzaqar
#: package (site-packages for an install, the checkout for a dev install).
ROOT = Path(txzaqar.__file__).resolve().parent.parent
PLUGINS = ROOT / "twisted" / "plugins"


def root_on_sys_path() -> bool:
    return any(Path(entry or ".").resolve() == ROOT for entry in sys.path)



def sample_handler(message: Any) -> None:
    """A handler for --handler tests."""


not_callable = 42


class PluginTests(SynchronousTestCase):
    """The plugin is found by twistd and provides IPlugin and IServiceMaker."""

    def setUp(self) -> None:
        self.original_path = list(twisted.plugins.__path__)
        if str(PLUGINS) not in twisted.plugins.__path__:
            # a setuptools "lenient" editable install: see test_discovered
            self.patch(twisted.plugins, "__path__", [*twisted.plugins.__path__, str(PLUGINS)])

    def plugin(self) -> Any:
        found = [p for p in getPlugins(IServiceMaker) if p.tapname == "zaqar-listen"]
        self.assertEqual(len(found), 1, "twistd cannot find the zaqar-listen plugin")
        return found[0]

    def test_provides(self) -> None:
        plugin = self.plugin()
        self.assertTrue(verifyObject(IPlugin, plugin))
        self.assertTrue(verifyObject(IServiceMaker, plugin))

    def test_plugin_file_is_installed(self) -> None:
        """
        The plugin file sits in twisted/plugins/, and txzaqar ships no
        twisted/plugins/__init__.py of its own (which would replace
        Twisted's and hide its plugins).
        """
        self.assertTrue((PLUGINS / "txzaqar_plugins.py").is_file())
        shipped = {str(f).replace("\\", "/") for f in importlib.metadata.files("txzaqar") or []}
        self.assertNotIn("twisted/plugins/__init__.py", shipped)
        self.assertNotIn("twisted/__init__.py", shipped)
        checkout = Path(__file__).resolve().parents[3]
        if (checkout / "setup.py").is_file():  # a source checkout, not site-packages
            plugins = checkout / "twisted" / "plugins"
            self.assertTrue((plugins / "txzaqar_plugins.py").is_file())
            self.assertFalse((plugins / "__init__.py").exists(), "it would hide Twisted's own plugins")
            self.assertFalse((checkout / "twisted" / "__init__.py").exists())

    def test_discovered(self) -> None:
        """Without help, as twistd looks for it: the plugin directory is on twisted.plugins' path."""
        plugins_path = [str(Path(p).resolve()) for p in self.original_path]
        self.assertIn(str(PLUGINS), plugins_path)

    if not root_on_sys_path():
        test_discovered.skip = (  # type: ignore[attr-defined]
            f"{ROOT} is not on sys.path (a setuptools 'lenient' editable install), so Twisted "
            "cannot see twisted/plugins/ there and twistd will not find zaqar-listen; reinstall "
            "with `pip install -e . --config-settings editable_mode=compat` or set PYTHONPATH"
        )

    def test_points_at_tap(self) -> None:
        plugin = self.plugin()
        self.assertIs(plugin.options, _tap.Options)
        self.assertEqual(plugin.module, "txzaqar.daemon")
        self.assertEqual(plugin.name, "txzaqar listener")


class OptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        options = parse()
        self.assertEqual(options["url"], "http://127.0.0.1:8888")
        self.assertEqual(options["project-id"], "demo")
        self.assertEqual(options["queues"], ["jobs"])
        self.assertEqual(
            (options["batch"], options["claim-ttl"], options["grace"], options["concurrency"]),
            (10, 60, 60, 10),
        )
        self.assertEqual((options["poll-interval"], options["max-interval"]), (1.0, 30.0))
        self.assertIsNone(options["callback-timeout"])
        self.assertIs(options["handler-function"], _tap.log_message)

    def test_everything(self) -> None:
        options = parse(
            "--queue", "more-jobs", "-q", "third",
            "--handler", "txzaqar.test.unit.test_daemon:sample_handler",
            "--batch", "20", "--claim-ttl", "120", "--grace", "90", "--concurrency", "50",
            "--poll-interval", "0.5", "--max-interval", "5", "--callback-timeout", "10",
            "--stop-timeout", "3", "--dead-letter-queue", "dead", "--max-claim-count", "4",
        )
        self.assertEqual(options["queues"], ["jobs", "more-jobs", "third"])
        self.assertIs(options["handler-function"], sample_handler)
        self.assertEqual(options["batch"], 20)
        self.assertEqual(options["claim-ttl"], 120)
        self.assertEqual(options["grace"], 90)
        self.assertEqual(options["concurrency"], 50)
        self.assertEqual(options["poll-interval"], 0.5)
        self.assertEqual(options["max-interval"], 5.0)
        self.assertEqual(options["callback-timeout"], 10.0)
        self.assertEqual(options["stop-timeout"], 3.0)
        self.assertEqual((options["dead-letter-queue"], options["max-claim-count"]), ("dead", 4))

    def test_threads(self) -> None:
        """
        Plain handlers run in 10 threads by default, or --concurrency if
        lower; --threads 0 runs them on the reactor thread.
        """
        self.assertEqual(parse()["threads"], 10)
        self.assertEqual(parse("--concurrency", "50")["threads"], 10)
        self.assertEqual(parse("--concurrency", "4")["threads"], 4)
        self.assertEqual(parse("--threads", "0")["threads"], 0)
        self.assertEqual(parse("--concurrency", "50", "--threads", "50")["threads"], 50)

    def test_default_handler_runs_on_the_reactor(self) -> None:
        """Logging a message does not block: the default handler needs no thread."""
        self.assertTrue(runs_on_reactor(_tap.log_message))

    def test_environment_defaults(self) -> None:
        self.patch(_tap.os, "environ", {"ZAQAR_URL": "https://zaqar.example:8888", "OS_PROJECT_ID": "p1"})
        options = _tap.Options()
        options.parseOptions(["--queue", "q"])
        self.assertEqual((options["url"], options["project-id"]), ("https://zaqar.example:8888", "p1"))

    def assertUsage(self, args: list[str], *fragments: str) -> None:
        self.patch(_tap.os, "environ", {})
        options = _tap.Options()
        e = self.assertRaises(UsageError, options.parseOptions, args)
        message = str(e)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_bad_options(self) -> None:
        cases: list[tuple[Any, ...]] = [
            ([], "--url is required"),
            (["--url", "ftp://x", "--project-id", "p", "--queue", "q"], "--url", "http://"),
            (["--url", "http://h:1", "--queue", "q"], "--project-id is required"),
            (["--url", "http://h:1", "--project-id", "p"], "--queue"),
            (GOOD[:4] + ["--queue", "bad name"], "--queue", "letters, digits"),
            (GOOD[:4] + ["--queue", "x" * 65], "--queue", "64"),
            (GOOD + ["--queue", "jobs"], "twice"),
            (GOOD + ["--batch", "lots"], "--batch", "whole number", "'lots'"),
            (GOOD + ["--batch", "21"], "--batch", "1 to 20"),
            (GOOD + ["--batch", "0"], "--batch"),
            (GOOD + ["--claim-ttl", "30"], "--claim-ttl", "60 to 43200"),
            (GOOD + ["--grace", "1e9"], "--grace"),
            (GOOD + ["--concurrency", "-1"], "--concurrency"),
            (GOOD + ["--poll-interval", "0"], "--poll-interval", "positive"),
            (GOOD + ["--poll-interval", "soon"], "--poll-interval"),
            (GOOD + ["--max-interval", "nan"], "--max-interval"),
            (GOOD + ["--poll-interval", "10", "--max-interval", "5"], "--max-interval", "below"),
            (GOOD + ["--callback-timeout", "-3"], "--callback-timeout"),
            (GOOD + ["--dead-letter-queue", "dead"], "together"),
            (GOOD + ["--max-claim-count", "3"], "together"),
            (GOOD + ["--dead-letter-queue", "d d", "--max-claim-count", "3"], "--dead-letter-queue"),
            (GOOD + ["--handler", "nocolon"], "--handler", "package.module:function"),
            (GOOD + ["--handler", "txzaqar.no_such_module:f"], "--handler", "cannot import",
             "txzaqar.no_such_module"),
            (GOOD + ["--handler", "txzaqar.test.unit.test_daemon:nope"], "--handler", "has no 'nope'"),
            (GOOD + ["--handler", "txzaqar.test.unit.test_daemon:not_callable"], "not callable"),
            (GOOD + ["--no-such-option"], "no-such-option"),
            (GOOD + ["--log-level", "chatty"], "--log-level", "debug, info", "'chatty'"),
            (GOOD + ["--threads", "-1"], "--threads", "0 to"),
            (GOOD + ["--threads", "many"], "--threads", "whole number"),
            (GOOD + ["--threads", "11"], "--threads (11) must not be above --concurrency (10)"),
            (GOOD + ["--concurrency", "4", "--threads", "5"], "--threads (5)", "--concurrency (4)"),
        ]
        for args, *fragments in cases:
            self.assertUsage(args, *fragments)


KS = ["--queue", "jobs", "--os-auth-url", "http://127.0.0.1:5000/v3"]
OS_ENV = {
    "OS_USERNAME": "demo",
    "OS_PASSWORD": "s3cret-from-env",
    "OS_PROJECT_NAME": "demo",
    "OS_USER_DOMAIN_ID": "default",
    "OS_PROJECT_DOMAIN_ID": "default",
}


class KeystoneOptionsTests(SynchronousTestCase):
    """Keystone and TLS options; nothing here talks to a server."""

    def parse(self, args: list[str], env: dict[str, str] | None = None) -> _tap.Options:
        self.patch(_tap.os, "environ", dict(OS_ENV if env is None else env))
        options = _tap.Options()
        options.parseOptions(args)
        return options

    def assertUsage(self, args: list[str], env: dict[str, str] | None, *fragments: str) -> str:
        self.patch(_tap.os, "environ", dict(OS_ENV if env is None else env))
        e = self.assertRaises(UsageError, _tap.Options().parseOptions, args)
        message = str(e)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def write(self, text: str) -> str:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_keystone_from_command_line_and_environment(self) -> None:
        options = self.parse(KS + ["--os-region-name", "RegionTwo", "--os-interface", "internal"])
        self.assertIsNone(options["url"], "the catalog gives the endpoint")
        settings = options["keystone"]
        self.assertEqual(settings["auth_url"], "http://127.0.0.1:5000/v3")
        self.assertEqual((settings["region_name"], settings["interface"]), ("RegionTwo", "internal"))
        self.assertNotIn("password", settings)
        service = _tap.makeService(options)
        authenticator = service.client.connection.authenticator
        self.assertEqual(
            repr(authenticator),
            "Keystone(service_type='messaging', interface='internal', region_name='RegionTwo')",
        )

    def test_auth_url_from_environment(self) -> None:
        env = dict(OS_ENV, OS_AUTH_URL="http://127.0.0.1:5000/v3", OS_REGION_NAME="R1")
        options = self.parse(["--queue", "jobs", "--url", "https://zaqar.example:8888"], env)
        self.assertEqual(options["url"], "https://zaqar.example:8888")
        self.assertIsNotNone(options["keystone"])
        service = _tap.makeService(options)
        self.assertIn("region_name='R1'", repr(service.client.connection.authenticator))

    def test_password_file(self) -> None:
        env = {k: v for k, v in OS_ENV.items() if k != "OS_PASSWORD"}
        password_file = self.write("from-a-file\n")
        options = self.parse(KS + ["--os-password-file", password_file], env)
        self.assertEqual(options["keystone"]["password_file"], password_file)
        self.assertNotIn("from-a-file", repr(dict(options)))
        keystone = keystone_from_settings(options["keystone"], run_in_thread=lambda *a: None)
        self.assertEqual(keystone._session.auth._password, "from-a-file")

    def test_application_credential(self) -> None:
        env = {"OS_AUTH_TYPE": "v3applicationcredential", "OS_APPLICATION_CREDENTIAL_SECRET": "x"}
        options = self.parse(KS + ["--os-application-credential-id", "abc"], env)
        self.assertEqual(options["keystone"]["application_credential_id"], "abc")

    def test_clouds_yaml(self) -> None:
        clouds = self.write(
            "clouds:\n"
            "  mycloud:\n"
            "    auth:\n"
            "      auth_url: http://127.0.0.1:5000/v3\n"
            "      username: demo\n"
            "      password: from-clouds-yaml\n"
            "      project_name: demo\n"
            "      user_domain_id: default\n"
            "      project_domain_id: default\n"
            "    region_name: RegionOne\n"
            "    interface: admin\n"
        )
        options = self.parse(["--queue", "jobs", "--os-cloud", "mycloud"], {"OS_CLIENT_CONFIG_FILE": clouds})
        self.assertEqual(options["keystone"]["cloud"], "mycloud")
        service = _tap.makeService(options)
        self.assertEqual(
            repr(service.client.connection.authenticator),
            "Keystone(service_type='messaging', interface='admin', region_name='RegionOne')",
        )
        self.assertUsage(["--queue", "jobs", "--os-cloud", "other"], {"OS_CLIENT_CONFIG_FILE": clouds},
                         "no cloud 'other'", "mycloud")

    def test_tls_options(self) -> None:
        pki = make_test_pki(self.mktemp())
        ca, cert, key = str(pki.ca_cert), str(pki.client_cert), str(pki.client_key)
        options = self.parse(KS + ["--cacert", ca, "--cert", cert, "--key", key])
        self.assertEqual((options["cacert"], options["cert"], options["key"]), (ca, cert, key))
        self.assertFalse(options["insecure"])
        options = self.parse(GOOD + ["--insecure"], {})
        self.assertTrue(options["insecure"])
        options = self.parse(GOOD, {"OS_INSECURE": "true", "OS_CACERT": ""})
        self.assertTrue(options["insecure"])
        options = self.parse(GOOD, {"OS_CACERT": ca})
        self.assertEqual(options["cacert"], ca)

    def test_bad_options(self) -> None:
        empty = self.write("")
        no_password = {k: v for k, v in OS_ENV.items() if k != "OS_PASSWORD"}
        cases: list[tuple[Any, ...]] = [
            (KS + ["--os-password", "hunter2"], OS_ENV, "never taken on the command line",
             "--os-password-file"),
            (KS + ["--os-token", "t"], OS_ENV, "never taken on the command line"),
            (KS + ["--os-application-credential-secret", "t"], OS_ENV, "never"),
            (GOOD + ["--os-username", "demo"], {}, "--os-username needs --os-auth-url"),
            (KS + ["--os-interface", "outside"], OS_ENV, "--os-interface", "'outside'"),
            (KS, {}, "Keystone password authentication needs a user"),
            (KS, {"OS_USERNAME": "demo"}, "and a password"),
            (KS + ["--os-auth-type", "nonsense"], OS_ENV, "unknown keystoneauth1 plugin"),
            (KS + ["--project-id", "p"], OS_ENV, "--project-id", "--os-project-name"),
            (KS + ["--os-password-file", "/no/such/file"], no_password, "--os-password-file",
             "cannot read"),
            (KS + ["--os-password-file", empty], no_password, "--os-password-file", "empty"),
            (GOOD + ["--cacert", "/no/such/ca.pem"], {}, "--cacert", "no such file"),
            (GOOD + ["--key", empty], {}, "--key needs --cert"),
            (GOOD + ["--cacert", empty, "--insecure"], {}, "--cacert or --insecure"),
            (["--queue", "jobs", "--os-cloud", "c"], {"OS_CLIENT_CONFIG_FILE": "/no/such.yaml"},
             "no clouds.yaml"),
        ]
        for args, env, *fragments in cases:
            message = self.assertUsage(args, env, *fragments)
            self.assertNotIn("hunter2", message)
            self.assertNotIn("s3cret", message)


class LogLevelTests(SynchronousTestCase):
    """
    twistd shows every event, debug included; C{--log-level} (default
    info) filters the observer twistd makes for its own options.
    """

    def twistd_options(self, *args: str) -> Any:
        from twisted.scripts.twistd import ServerOptions

        self.patch(_tap, "_twistd_observer", None)
        # twistd's log-file observer installs a SIGUSR1 handler (log rotation)
        previous = signal.getsignal(signal.SIGUSR1)
        self.addCleanup(signal.signal, signal.SIGUSR1, previous)
        config = ServerOptions()
        logfile = self.mktemp()
        config.parseOptions(["-n", "--logfile", logfile, *args, "zaqar-listen", *GOOD])
        return config, logfile

    def test_default_is_info(self) -> None:
        self.assertEqual(parse()["log-level"], LogLevel.info)
        self.assertEqual(parse("--log-level", "DEBUG")["log-level"], LogLevel.debug)

    def test_without_twistd(self) -> None:
        """Parsed on their own (no twistd parent), the options touch no logging."""
        self.patch(_tap, "_twistd_observer", None)
        parse()
        self.assertIsNone(_tap._twistd_observer)

    def test_twistd_observer_filters(self) -> None:
        config, logfile = self.twistd_options()
        self.assertIs(config["logger"], _tap._twistd_observer)
        observer = config["logger"]()
        self.assertTrue(ILogObserver.providedBy(observer))
        for level in (LogLevel.debug, LogLevel.info, LogLevel.warn):
            observer({"log_level": level, "log_format": f"a {level.name} event",
                      "log_namespace": "test", "log_time": 0.0})
        with open(logfile) as f:
            text = f.read()
        self.assertNotIn("a debug event", text)
        self.assertIn("a info event", text)
        self.assertIn("a warn event", text)

    def test_twistd_debug(self) -> None:
        config, logfile = self.twistd_options()
        observer = _tap.filtered_twistd_observer(config, LogLevel.debug)
        observer({"log_level": LogLevel.debug, "log_format": "a debug event",
                  "log_namespace": "test", "log_time": 0.0})
        with open(logfile) as f:
            self.assertIn("a debug event", f.read())

    def test_explicit_logger_wins(self) -> None:
        config, _ = self.twistd_options("--logger", "txzaqar.test.unit.test_daemon.custom_observer")
        self.assertIs(config["logger"], custom_observer)
        self.assertIsNone(_tap._twistd_observer)


def custom_observer() -> Any:
    """A --logger factory for L{LogLevelTests}."""
    return lambda event: None


class MakeServiceTests(SynchronousTestCase):
    def test_make_service(self) -> None:
        service = _tap.makeService(parse("--queue", "two", "--batch", "5", "--concurrency", "7"))
        self.assertIsInstance(service, ListenerService)
        subscriber = service.subscriber
        self.assertIsInstance(subscriber, Subscriber)
        self.assertEqual(subscriber.channels, frozenset({"jobs", "two"}))
        self.assertEqual((subscriber.batch, subscriber.concurrency), (5, 7))
        self.assertEqual(subscriber.threads, 7)
        self.assertFalse(service.running or subscriber.running)
        self.assertEqual(_tap.makeService(parse("--threads", "0")).subscriber.threads, 0)

    def test_log_message(self) -> None:
        """The default handler logs one JSON line per message."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]

        class Q:
            name = "jobs"

        class M:
            queue = Q()
            id = "abc"
            age = 3
            ttl = 60
            claim_count = 1
            body = {"hello": ["world", 1]}

        _tap.log_message(M())
        self.assertEqual(len(events), 1)
        line = events[0]["json_line"]
        self.assertNotIn("\n", line)
        self.assertEqual(
            json.loads(line),
            {"queue": "jobs", "id": "abc", "age": 3, "ttl": 60, "claim_count": 1,
             "body": {"hello": ["world", 1]}},
        )
