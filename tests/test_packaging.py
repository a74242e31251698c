"""What an installed copy (the Docker image installs the package, not the source tree) needs: every data
file ships in the wheel, the repository's top-level geofences/ and migrations/ inside the package; the wheel,
installed into a fresh virtualenv, migrates a database, loads the bundled geofences and serves them; and the
Dockerfile installs and runs the package the way the Makefile does. There is no Docker engine on this
machine, so the image itself is not built here."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from ais_watch.store.schema import metadata
from ais_watch.zones import load_zones
from tests.helpers.paths import REPO

# Top-level folders of the repository and where the wheel carries them (setup.py's package-dir mapping).
MAPPED = {"geofences": "ais_watch/geofences", "migrations": "ais_watch/migrations"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built with the installed setuptools (no index needed) from a copy of the checkout's files
    that git does not ignore: an in-place build would also pack whatever an earlier build left in build/."""
    source = tmp_path_factory.mktemp("source")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO / name).is_file():  # a tracked file deleted in the working tree is gone from the build too
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(out), str(source)], check=True, capture_output=True, timeout=240)
    (built,) = out.glob("ais_watch-*.whl")
    return built


def _in_wheel(tracked: str) -> str:
    """Where a tracked file of the repository lands in the wheel."""
    top, _, rest = tracked.partition("/")
    return f"{MAPPED[top]}/{rest}" if top in MAPPED else tracked


@pytest.mark.integration
def test_every_data_file_of_the_package_is_in_the_wheel(wheel: Path) -> None:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "ais_watch", *MAPPED], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    needed = [_in_wheel(f) for f in tracked if not f.endswith(".pyc")]
    assert needed, "git knows the package's files"
    for top in MAPPED:
        assert any(f.startswith(f"{top}/") for f in tracked), f"git knows the files of {top}/"
    missing = [f for f in needed if f not in shipped]
    assert not missing, f"not in the wheel (add them to package-data, their package to setup.py): {missing}"


def _head() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(REPO / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _at_head(db: Path) -> None:
    """The SQLite file's schema is the newest migration's, and holds every table the code declares."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(metadata.tables) <= tables


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_wheel_in_a_fresh_virtualenv_migrates_and_loads_the_bundled_geofences(
        wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    # Dependencies come from the configured package index, as in the Docker build.
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True,
                   timeout=600)
    elsewhere = tmp_path / "elsewhere"  # not the checkout: nothing may be found through the working directory
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIS_WATCH_", "PYTHON")) and k != "AISSTREAM_API_KEY"}

    def run(*args: str) -> str:
        done = subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # The code finds both folders inside the installed package, not in this checkout.
    package, migrations_dir, geofences_dir = map(Path, run(
        "python", "-c", "import ais_watch, ais_watch.store.db as db, ais_watch.zones as zones; "
        "print(ais_watch.__file__, db.MIGRATIONS_DIR, zones.BUNDLED_DIR, sep='\\n')").split("\n")[:3])
    assert package.resolve().is_relative_to(venv.resolve())
    assert (migrations_dir, geofences_dir) == (package.parent / "migrations", package.parent / "geofences")

    db = tmp_path / "x.db"
    assert "database schema is at head" in run("ais-watch", "--db", f"sqlite:///{db}", "migrate")
    _at_head(db)
    bundled = load_zones()  # this checkout's geofences: the installed copy must load the same
    ports = sum(z.is_port for z in bundled)
    out = run("ais-watch", "--db", f"sqlite:///{db}", "check")
    assert f"geofences: {len(bundled)} zones, {ports} ports and anchorages" in out
    assert "schema at head" in out

    # `serve` (the image's command) migrates a fresh database at start and serves the bundled zones.
    served_db = tmp_path / "served.db"
    with socket.create_server(("127.0.0.1", 0)) as feed:  # an NMEA feed that stays silent
        serve_env = {**env, "AIS_WATCH_DB": f"sqlite:///{served_db}", "AIS_WATCH_HTTP_PORT": "0",
                     "AIS_WATCH_DEMO_REPLAY": "false", "AIS_WATCH_LOG_LEVEL": "INFO",
                     "AIS_WATCH_NMEA_TCP": f"127.0.0.1:{feed.getsockname()[1]}"}
        log = tmp_path / "serve.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen([str(venv / "bin" / "ais-watch"), "serve"], cwd=elsewhere, env=serve_env,
                                    stdin=subprocess.DEVNULL, stdout=fh, stderr=fh)
        try:
            deadline = time.monotonic() + 60
            while not (api := re.search(r"API on (http://[^\s/]+)/", log.read_text(errors="replace"))):
                assert proc.poll() is None, f"serve exited {proc.returncode}:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"serve did not start:\n{log.read_text()}"
                time.sleep(0.1)
            _at_head(served_db)
            token = run("ais-watch", "--db", f"sqlite:///{served_db}", "token", "create", "--role", "viewer")
            request = urllib.request.Request(f"{api.group(1)}/api/zones",
                                             headers={"Authorization": f"Bearer {token.strip()}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                served = json.load(response)
            assert sorted(f["properties"]["id"] for f in served["features"]) == sorted(z.id for z in bundled)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.unit
def test_the_dockerfile_installs_and_runs_the_package_like_the_makefile() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # The same install: pip install of this directory (the Makefile adds -e and the dev extras).
    assert re.search(r"pip install --quiet -e '\.\[dev\]'", makefile)
    assert re.search(r"/opt/ais-watch/bin/pip install --no-cache-dir \.$", dockerfile, re.M)
    # What the build reads is copied in: the build configuration and the folders it maps into the package.
    sources = re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M)
    copied = {src for line in sources for src in line.split()}
    assert {"pyproject.toml", "setup.py", "README.md", "ais_watch", *MAPPED} <= copied
    # A Python the package supports, in both stages.
    minimum = project["requires-python"].removeprefix(">=")
    assert re.findall(r"^FROM python:(\d+\.\d+)-slim", dockerfile, re.M) == [minimum, minimum]
    # Runs the console script the package declares, as a non-root user, with a health check on /healthz.
    assert "ais-watch" in project["scripts"]
    assert 'ENTRYPOINT ["ais-watch"]' in dockerfile and 'CMD ["serve"]' in dockerfile
    user = re.search(r"^USER (\S+)", dockerfile, re.M)
    assert user and user.group(1) not in ("root", "0")
    assert re.search(r"HEALTHCHECK .*\n.*/healthz", dockerfile)
    # Data and config are volumes; the API listens on the port it exposes.
    assert 'VOLUME ["/data", "/config"]' in dockerfile
    assert "AIS_WATCH_HTTP_PORT=8080" in dockerfile and "EXPOSE 8080" in dockerfile
    compose = (REPO / "compose.yaml").read_text()
    assert "postgres:" in compose and "AIS_WATCH_DB: postgresql://" in compose
