"""
Tests for L{txzaqar.daemon._routes}: C{--route QUEUE=handler[,concurrency=N]}
from the command line, the environment and C{[[route]]} tables, and the
Subscriber the daemon makes of them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon import _service as _tap
from txzaqar.subscriber.slots import runs_on_reactor
from txzaqar.test.helpers.options import BASE, EnvironmentOptionsCase

HERE = "txzaqar.test.unit.test_daemon_routes"


def orders(message: Any) -> None:
    """A plain route handler."""


async def refunds(message: Any) -> None:
    """An async route handler."""


class RouteOptionTests(EnvironmentOptionsCase):
    def test_routes(self) -> None:
        options = self.parse("--queue", "misc", "--route", f"orders={HERE}:orders,concurrency=4",
                             "--route", f"refunds={HERE}:refunds")
        self.assertEqual(options["queues"], ["misc", "orders", "refunds"])
        self.assertEqual(options["routes"]["orders"], {"queue": "orders", "handler": f"{HERE}:orders",
                                                       "concurrency": 4})
        self.assertIsNone(options["routes"]["refunds"]["concurrency"])
        self.assertIs(options["route-functions"][f"{HERE}:orders"], orders)
        self.assertIn(f"route orders: handler {HERE}:orders imported, at most 4 at once",
                      _tap._checked_locally(options))

    def test_mistakes(self) -> None:
        self.assertIn("--route must look like QUEUE=package.module:function", self.refused("--route", "orders"))
        self.assertIn("concurrency must be a whole number from 1 to 10000, not '0'",
                      self.refused("--route", f"orders={HERE}:orders,concurrency=0"))
        self.assertIn("unknown setting 'threads'", self.refused("--route", f"orders={HERE}:orders,threads=2"))
        self.assertIn("queue orders is given twice",
                      self.refused("--queue", "orders", "--route", f"orders={HERE}:orders"))
        self.assertEqual(self.refused("--route", f"orders={HERE}:nothing"),
                         f"--route orders={HERE}:nothing: module '{HERE}' has no 'nothing'")

    def test_environment(self) -> None:
        options = self.parse(env={"ZAQAR_LISTEN_ROUTE": f"orders={HERE}:orders,concurrency=2; refunds={HERE}:refunds"})
        self.assertEqual(options["queues"], ["orders", "refunds"])
        self.assertEqual(options["routes"]["orders"]["concurrency"], 2)

    def test_file_tables(self) -> None:
        path = Path(tempfile.mkdtemp()) / "config.toml"
        path.write_text(f'[[route]]\nqueue = "orders"\nhandler = "{HERE}:orders"\nconcurrency = 3\n\n'
                        f'[[route]]\nqueue = "refunds"\nhandler = "{HERE}:refunds"\n')
        options = self.parse("--config", str(path))
        self.assertEqual(options["queues"], ["orders", "refunds"])
        self.assertEqual(options["routes"]["orders"]["concurrency"], 3)
        path.write_text('[[route]]\nqueue = "orders"\nhandlr = "x:y"\n')
        self.assertEqual(self.refused("--config", str(path)),
                         f"{path}: route: unknown key 'handlr' (queue, handler, concurrency)")


class RoutedServiceTests(SynchronousTestCase):
    def test_each_queue_its_handler_and_slots(self) -> None:
        self.patch(_tap.os, "environ", {})
        options = _tap.Options()
        options.parseOptions([*BASE, "--queue", "misc", "--route", f"orders={HERE}:orders,concurrency=4",
                              "--route", f"refunds={HERE}:refunds", "--concurrency", "6"])
        service = _tap.makeService(options)
        subscriber: Any = service.subscriber
        channels = subscriber._channels
        self.assertEqual(set(channels), {"misc", "orders", "refunds"})
        self.assertEqual(channels["orders"].slots.concurrency, 4)
        self.assertIs(channels["refunds"].slots, channels["misc"].slots)
        self.assertEqual(channels["misc"].slots.concurrency, 6)
        self.assertTrue(channels["orders"].plain)
        self.assertTrue(runs_on_reactor(channels["refunds"].callback))
        self.assertIs(channels["orders"].callback.__wrapped__, orders)


class ReadmeRoutesTests(SynchronousTestCase):
    def test_readme_file_parses(self) -> None:
        """The README's routes file, as printed, read by --config: three queues, two routes."""
        from txzaqar.test import readme

        block = readme.find_block(readme.DAEMON, "# routes.toml")
        work = Path(tempfile.mkdtemp())
        (work / "routes.toml").write_text(block.text)
        (work / "mypackage").mkdir()
        (work / "mypackage" / "__init__.py").write_text("")
        (work / "mypackage" / "handlers.py").write_text(
            "def handle_order(message):\n    pass\n\n\ndef handle_refund(message):\n    pass\n")
        self.patch(_tap.sys, "path", [str(work), *_tap.sys.path])
        self.addCleanup(_tap.sys.modules.pop, "mypackage.handlers", None)
        self.addCleanup(_tap.sys.modules.pop, "mypackage", None)
        self.patch(_tap.os, "environ", {})
        command = block.first_line.split(": ", 1)[1]
        self.assertEqual(command, "twistd -n --pidfile= zaqar-listen --config routes.toml")
        options = _tap.Options()
        options.parseOptions(["--config", str(work / "routes.toml")])
        self.assertEqual(sorted(options["queues"]), ["misc", "orders", "refunds"])
        self.assertEqual(options["routes"]["orders"]["concurrency"], 4)
        self.assertEqual(options["routes"]["refunds"]["handler"], "mypackage.handlers:handle_refund")
        self.assertEqual(options["concurrency"], 10)
