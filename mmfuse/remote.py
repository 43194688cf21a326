"""Fail fast on object stores that cannot answer.

Beam's GCS and S3 clients retry for minutes when there is no network or no credentials, so a
job given a ``gs://`` path would sit silent before failing with a traceback. Before a job
starts, each store its flags name is checked once: first a plain TCP connection to the
store's endpoint (seconds), then one listing under a deadline. Either failure is a
:class:`~mmfuse.errors.ConfigError` that says what did not answer and what to check.
"""

from __future__ import annotations

import socket
import threading
from typing import Iterable, Optional

from mmfuse.errors import ConfigError

__all__ = ["check_reachable", "stores_of"]

# Endpoints of the stores Beam ships clients for; others are only given the listing deadline.
_ENDPOINTS = {"gs": ("storage.googleapis.com", 443), "s3": ("s3.amazonaws.com", 443)}
_CONNECT_S = 5.0


def stores_of(uris: Iterable[Optional[str]]) -> dict[str, str]:
    """``scheme://bucket`` → the first URI under it, for every remote URI given."""
    stores: dict[str, str] = {}
    for uri in uris:
        if uri and "://" in uri and not uri.startswith("file://"):
            scheme, rest = uri.split("://", 1)
            stores.setdefault(f"{scheme}://{rest.split('/', 1)[0]}", uri)
    return stores


def _credentials_hint(scheme: str) -> str:
    if scheme != "gs":
        return ""
    try:
        import google.auth

        google.auth.default()
    except ImportError:
        return " (the Google Cloud client is not installed: pip install 'mmfuse[gcp]')"
    except Exception:
        return " (no Google credentials found: run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS)"
    return ""


def _listing(uri: str, timeout_s: float) -> Optional[str]:
    """None when listing ``uri`` answers within the deadline, else what went wrong."""
    from apache_beam.io.filesystems import FileSystems

    outcome: dict = {}

    def attempt():
        try:
            FileSystems.match([uri])
            outcome["ok"] = True
        except Exception as err:  # any answer, even a refusal, is an answer: say it
            outcome["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"

    worker = threading.Thread(target=attempt, name="mmfuse-store-check", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return f"no answer within {timeout_s:g} s"
    return outcome.get("error")


def check_reachable(uris: Iterable[Optional[str]], timeout_s: float = 20.0) -> None:
    """Raise :class:`ConfigError` unless every object store among ``uris`` answers."""
    for store, uri in stores_of(uris).items():
        scheme = store.split("://", 1)[0]
        endpoint = _ENDPOINTS.get(scheme)
        if endpoint is not None:
            try:
                socket.create_connection(endpoint, timeout=_CONNECT_S).close()
            except OSError as err:
                raise ConfigError(
                    f"{uri}: cannot connect to {endpoint[0]}:{endpoint[1]} ({err}); check the network or proxy"
                ) from None
        problem = _listing(uri, timeout_s)
        if problem is not None:
            raise ConfigError(f"{uri}: {store} cannot be listed ({problem}){_credentials_hint(scheme)}")
