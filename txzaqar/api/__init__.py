"""
The Zaqar v2 API as objects: L{client.Client} and the resources it gives
(L{queue.Queue}, L{message.Message}, L{claim.Claim},
L{subscription.Subscription}, the admin's pools and flavors), all speaking
through an L{txzaqar.interfaces.IConnection}.
"""
