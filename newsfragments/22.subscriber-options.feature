``Subscriber(client, settings=SubscriberSettings(...))`` (and ``client.subscriber(settings=...)``) takes the
options as one ``SubscriberSettings``, as ``twistd zaqar-listen`` now does.
