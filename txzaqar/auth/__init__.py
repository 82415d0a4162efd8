"""
Authenticators: what to add to each request, and where Zaqar is.

L{NoAuth} is for servers with C{auth_strategy} unset (it sends
C{X-Project-ID}); L{Token} sends a token you already hold; L{SignedURLAuth}
acts with nothing but a pre-signed URL (C{Queue.share()}'s document);
L{Keystone} authenticates with keystoneauth1 (any plugin, or a ready
C{Session}) and finds Zaqar in the service catalog (only
L{txzaqar.auth.keystone} knows Keystone).  L{txzaqar.auth.tls} holds the
TLS policy of connections to Zaqar.
"""

from .._support.threads import RunInThread
from .keystone import Keystone
from .signed_url import SignedURLAuth
from .static import NoAuth, Token

__all__ = ["Keystone", "NoAuth", "RunInThread", "SignedURLAuth", "Token"]
