"""Which packages the wheel carries and where their files come from; everything else is in pyproject.toml.

geofences/ and migrations/ sit at the top of the repository (where the project's design puts them) but
ship inside the package, as ais_watch/geofences/ and ais_watch/migrations/, so that an installed copy (the
Docker image) has them. A package-dir mapping does that; setuptools then needs the package list spelled
out, which pyproject.toml cannot do while also discovering ais_watch's own subpackages, so both are here.
A checkout (and the editable install) reads the top-level folders directly: see ais_watch.shipped_dir.
"""

from setuptools import find_namespace_packages, setup

MAPPED = {"ais_watch.geofences": "geofences", "ais_watch.migrations": "migrations"}

setup(
    packages=[*find_namespace_packages(include=["ais_watch*"]), *MAPPED, "ais_watch.migrations.versions"],
    package_dir=MAPPED,
)
