``txzaqar.auth.static.StaticAuthenticator`` is the base of ``NoAuth``, ``Token`` and ``SignedURLAuth``
(a 401 is final, nothing to close, no client-side check): subclass it for an authenticator whose
headers never change. ``SignedURLAuth.signed_url`` is the ``SignedURL`` it acts with (the class now
lives in ``txzaqar.auth.signed_url``; ``txzaqar.SignedURL`` is unchanged), and
``Unauthorized.auth_headers`` is a declared attribute: the headers of the refused request, or ``None``.
