"""One boto3 S3 client per process and settings, however many file operations a run makes.

Beam's S3 filesystem (``apache_beam.io.aws``, 2.77) builds a new boto3 Session and client for
every operation: ``S3FileSystem.exists``, ``open``, ``rename``, ``match``, ``delete`` each
call ``s3io.S3IO(options=...)``, whose ``boto3_client.Client`` calls
``boto3.session.Session().client("s3", ...)``. A new session loads botocore's JSON service
model again, 50-100 ms of CPU each time, in every process. ``benchmarks/s3.py`` measures a
run to moto on loopback with Beam's module as shipped and with this one (results/s3.json).

``reuse_s3_clients()`` gives Beam's wrapper a session whose ``client(...)`` returns one
shared botocore client per set of arguments (endpoint, region, credentials, SSL). botocore
clients are thread safe (boto3's documentation); sessions are not, so the one real session
builds clients under a lock. Beam's own ``Client`` wrapper, which holds a download's
position, is still made per operation: only the botocore client is shared.

No library does this: boto3 has no client cache, and Beam takes no client from outside
(``S3IO(client=...)`` exists, but ``S3FileSystem`` never passes one). The change is one
attribute of one Beam module, checked at install; if Beam's layout differs, nothing is
changed and operations are only slower.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["reuse_s3_clients", "clients_built"]

_LOCK = threading.Lock()
_CLIENTS: dict[tuple, Any] = {}
_BUILT = [0]  # botocore clients built by the shared session (tests read it)


def clients_built() -> int:
    """How many botocore clients this process built through the shared session."""
    return _BUILT[0]


class _SharedSession:
    """What Beam's wrapper calls ``boto3.session.Session()`` on: ``client(**kw)`` returns the
    process's client for those arguments, built once."""

    _session = None

    def client(self, *args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        client = _CLIENTS.get(key)
        if client is None:
            with _LOCK:
                client = _CLIENTS.get(key)
                if client is None:
                    import boto3

                    if _SharedSession._session is None:
                        _SharedSession._session = boto3.session.Session()
                    client = _CLIENTS[key] = _SharedSession._session.client(*args, **kwargs)
                    _BUILT[0] += 1
        return client


class _Boto3:
    """Stands in for the ``boto3`` module inside Beam's S3 client wrapper (it uses only
    ``boto3.session.Session``)."""

    class session:  # noqa: N801 (the module attribute it stands for)
        Session = _SharedSession


def reuse_s3_clients() -> bool:
    """Makes Beam's S3 filesystem share botocore clients in this process (idempotent).
    False when boto3 or Beam's AWS module is missing, or laid out differently."""
    try:
        import boto3  # noqa: F401
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:
        return False
    current = getattr(boto3_client, "boto3", None)
    if current is _Boto3:
        return True
    if current is None or not hasattr(boto3_client, "Client"):
        return False
    boto3_client.boto3 = _Boto3
    return True
