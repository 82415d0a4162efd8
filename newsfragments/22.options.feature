``Subscriber(client, settings=SubscriberSettings(...))`` (and ``client.subscriber(settings=...)``) takes the
options as one ``SubscriberSettings``, as ``twistd zaqar-listen`` now does.
``IQueue`` declares ``connection`` (the ``IConnection`` its requests go through); ``Message.queue`` and
``Subscription.queue`` are typed as ``IQueue``.
