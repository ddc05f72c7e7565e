"""The offline install the docs give works with no package index.

README.md, docs/getting-started.md and the agent's README say, for a
machine without a package index (Debian 12):

    python3 -m venv --system-site-packages venv
    venv/bin/pip install --no-build-isolation --no-index examples/python

This runs those two lines with Debian's python3 (whose python3-setuptools
and python3-wheel the venv sees), on a copy of examples/python so that the
build leaves nothing in the repository, and imports the agent from the
venv. It also shows why the flag is needed: without it, pip must fetch
setuptools, and with no index that fails. Skipped where Debian's python3,
venv, setuptools or wheel are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unittest

from support import PY_ROOT, REPO_ROOT

SYSTEM_PYTHON = "/usr/bin/python3"
VENV = "python3 -m venv --system-site-packages venv"
INSTALL = "venv/bin/pip install --no-build-isolation --no-index examples/python"
DOCS = ("README.md", os.path.join("docs", "getting-started.md"),
        os.path.join("examples", "python", "README.md"))


def system_python_has(*modules):
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    code = "import " + ", ".join(modules)
    return subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True).returncode == 0


class OfflineInstallTest(unittest.TestCase):

    def test_the_docs_give_the_offline_install(self):
        for doc in DOCS:
            with open(os.path.join(REPO_ROOT, doc)) as f:
                text = f.read()
            self.assertIn(VENV, text, doc)
            self.assertIn(INSTALL, text, doc)
            self.assertIn("python3-setuptools python3-wheel", text, doc)

    def test_the_documented_commands_install_the_agent_with_no_index(self):
        if not system_python_has("venv", "ensurepip", "setuptools", "wheel"):
            self.skipTest("needs Debian's python3 with python3-venv, python3-setuptools "
                          "and python3-wheel")
        work = tempfile.mkdtemp(prefix="ember-agent-install-")
        try:
            shutil.copytree(PY_ROOT, os.path.join(work, "examples", "python"),
                            ignore=shutil.ignore_patterns("tests", "rideshare", "build",
                                                          "*.egg-info", "__pycache__"))
            # Any index pip might still try is one that cannot answer.
            env = dict(os.environ, PIP_INDEX_URL="http://127.0.0.1:9/simple",
                       PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
                       PATH=os.path.dirname(SYSTEM_PYTHON) + ":" + os.environ["PATH"])
            for var in ("PYTHONPATH", "PYENV_VERSION", "VIRTUAL_ENV"):
                env.pop(var, None)
            venv = VENV.replace("python3", SYSTEM_PYTHON, 1)
            run = subprocess.run(venv, shell=True, cwd=work, env=env, capture_output=True,
                                 text=True, timeout=300)
            self.assertEqual(run.returncode, 0, run.stderr)
            # Without --no-build-isolation pip needs setuptools from an index.
            isolated = INSTALL.replace("--no-build-isolation ", "")
            run = subprocess.run(isolated, shell=True, cwd=work, env=env,
                                 capture_output=True, text=True, timeout=300)
            self.assertNotEqual(run.returncode, 0, run.stdout)
            self.assertIn("setuptools", run.stdout + run.stderr)
            run = subprocess.run(INSTALL, shell=True, cwd=work, env=env, capture_output=True,
                                 text=True, timeout=300)
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            run = subprocess.run(["venv/bin/python", "-c",
                                  "import ember_agent, sys; print(ember_agent.__file__)"],
                                 cwd=os.path.join(work, ""), env=env, capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn(os.path.join(work, "venv"), run.stdout)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
