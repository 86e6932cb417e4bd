"""Manifests, signatures and signing keys (format: docs/format.md section 8).

A key is given as the path of its key file (str or os.PathLike) or as the
file's bytes. ``generate_key()`` makes a pair; ``hermetic keygen`` writes one
to files.
"""

import os

from . import _core
from .errors import InvalidArgumentError

__all__ = ["generate_key", "public_key_of", "sign_archive", "verify_archive"]


def _key_text(key, what):
    """(key file text, where it came from) for a path or a key file's bytes."""
    if isinstance(key, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(key))
        with open(path, "rb") as f:
            data = f.read()
        source = path
    elif isinstance(key, (bytes, bytearray, memoryview)):
        data = bytes(key)
        source = what
    else:
        raise TypeError(f"{what} must be the path of a key file or its bytes, "
                        f"got {type(key).__name__}")
    try:
        return data.decode("ascii"), source
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"{source}: not a hermetic key file") from None


def generate_key():
    """A new Ed25519 key pair as (secret key file bytes, public key file bytes)."""
    secret, public = _core.generate_key()
    return secret.encode("ascii"), public.encode("ascii")


def public_key_of(secret_key):
    """The public key file bytes of a secret key (path or bytes)."""
    return _core.public_key_of(_key_text(secret_key, "secret_key")).encode("ascii")


def signing_key(sign_with):
    """sign_with as the binding takes it (None stays None)."""
    return None if sign_with is None else _key_text(sign_with, "sign_with")


def verify_archive(archive, trusted_keys=None):
    """Checks a _core.ArchiveReader's records against its manifest and
    signature; with `trusted_keys` (paths or bytes of public key files), the
    archive must be signed by one of them. Returns (has_manifest, signer key
    hex or None, records checked); IntegrityError otherwise."""
    keys = []
    if trusted_keys is not None:
        if isinstance(trusted_keys, (str, os.PathLike, bytes, bytearray)):
            raise TypeError("trusted_keys must be a list of keys, not one key")
        keys = [_key_text(k, f"trusted_keys[{i}]") for i, k in enumerate(trusted_keys)]
        if not keys:
            raise InvalidArgumentError("trusted_keys is empty: no archive could be trusted")
    return _core.verify_manifest(archive, keys, require_manifest=bool(keys))


def sign_archive(path, secret_key):
    """Signs the manifest of the archive at `path` in place (atomically);
    returns the signer's public key in hex."""
    return _core.sign_archive(os.fsdecode(os.fspath(path)),
                              _key_text(secret_key, "secret_key"))
