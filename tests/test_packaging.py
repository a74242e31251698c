"""What an installed copy (the Docker image installs the package, not the source tree) needs: every data
file ships in the wheel, and the Dockerfile installs and runs the package the way the Makefile does.
There is no Docker engine on this machine, so the image itself is not built here."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.helpers.paths import REPO


@pytest.mark.integration
def test_every_data_file_of_the_package_is_in_the_wheel(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=240)
    (wheel,) = tmp_path.glob("ais_watch-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "ais_watch"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    needed = [f for f in tracked if not f.endswith(".pyc")]
    assert needed, "git knows the package's files"
    missing = [f for f in needed if f not in shipped]
    assert not missing, f"not in the wheel (add them to package-data): {missing}"


@pytest.mark.unit
def test_the_dockerfile_installs_and_runs_the_package_like_the_makefile() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # The same install: pip install of this directory (the Makefile adds -e and the dev extras).
    assert re.search(r"pip install --quiet -e '\.\[dev\]'", makefile)
    assert re.search(r"/opt/ais-watch/bin/pip install --no-cache-dir \.$", dockerfile, re.M)
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
