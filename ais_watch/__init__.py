"""ais-watch: watches ships through AIS and alerts on sanctioned port calls and dark periods."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str, marker: str) -> Path:
    """A folder kept at the top of the repository (``geofences``, ``migrations``) that the wheel carries
    inside the package (setup.py maps it there): ``ais_watch/<name>`` when installed, ``<checkout>/<name>``
    when run from a checkout (the editable install, the tests).

    The installed place wins, but only when it holds ``marker``: a checkout made before the move may still
    have a stale ``ais_watch/migrations/__pycache__`` that git does not remove.
    """
    installed = _PACKAGE / name
    if (installed / marker).exists():
        return installed
    return _PACKAGE.parent / name
