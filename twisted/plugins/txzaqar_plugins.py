from twisted.application.service import ServiceMaker

zaqarListen = ServiceMaker(
    "txzaqar listener", "txzaqar.daemon", "Deliver Zaqar queue messages to a Python function", "zaqar-listen"
)
