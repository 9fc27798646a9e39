"""The GitHub Actions workflows: valid against GitHub's schema, and free of findings."""
import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT

WORKFLOWS = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def test_workflows_match_the_schema():
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", *WORKFLOWS], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_of_medium_or_higher_severity():
    result = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", "auditor",
                             "--min-severity", "medium", *WORKFLOWS],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_deploy_job_may_write():
    workflow = yaml.safe_load(Path(WORKFLOWS[0]).read_text())
    assert workflow["permissions"] == {"contents": "read"}
    triggers = workflow[True]  # YAML reads the key "on" as true
    assert "pull_request_target" not in triggers
    jobs = workflow["jobs"]
    writers = {name for name, job in jobs.items() if "permissions" in job}
    assert writers == {"deploy"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert "pull_request" in jobs["deploy"]["if"] and jobs["deploy"]["environment"]["name"] == "github-pages"
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                ref = step["uses"].split("@")[1]
                assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked(path, this_platform=False):
    """The lock's pins: {name: version}, each line required to carry a hash.

    With ``this_platform``, only the pins whose environment marker holds here.
    """
    from packaging.markers import Marker

    pins, text = {}, path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line and not line.startswith(("#", " ")):
            assert "--hash=sha256:" in line, line
            requirement, _, rest = line.partition(" --hash")[0].partition(";")
            if this_platform and rest.strip() and not Marker(rest.strip()).evaluate():
                continue
            name, version = requirement.strip().split("==")
            pins[_normalise(name)] = version
    return pins


def _listed(path):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[_normalise(name)] = version
        elif line.startswith("-r "):
            pins.update(_listed(path.parent / line[3:]))
    return pins


def test_the_locks_pin_every_listed_package_at_its_listed_version():
    for name in ("requirements", "requirements-test"):
        locked = _locked(ROOT / f"{name}.lock")
        listed = _listed(ROOT / f"{name}.txt")
        assert {k: locked.get(k) for k in listed} == listed, name
        assert len(locked) > 2 * len(listed)  # the packages beneath are pinned too


def test_the_environment_is_the_lock():
    # Every package the lock pins for this platform is installed at the locked version.
    from importlib.metadata import distributions

    locked = _locked(ROOT / "requirements-test.lock", this_platform=True)
    installed = {_normalise(d.metadata["Name"]): d.version for d in distributions()}
    differing = {name: (version, installed.get(name)) for name, version in locked.items()
                 if installed.get(name) != version}
    assert not differing, differing


def test_the_scripts_install_the_locks_with_hash_checking():
    env = (ROOT / "scripts" / "env.sh").read_text()
    assert "--require-hashes" in env
    assert "ensure_env requirements.lock" in (ROOT / "scripts" / "build").read_text()
    assert "ensure_env requirements-test.lock" in (ROOT / "scripts" / "test").read_text()


def test_every_job_has_a_time_limit_and_failures_are_uploaded_as_artifacts():
    workflow = yaml.safe_load(Path(WORKFLOWS[0]).read_text())
    for name, job in workflow["jobs"].items():
        assert 0 < job.get("timeout-minutes", 0) <= 60, name
    steps = workflow["jobs"]["build"]["steps"]
    reports = [step for step in steps if step.get("if") == "failure()"]
    assert reports and all(step["uses"].startswith(
        "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f") for step in reports)


def test_renovate_proposes_updates_to_packages_and_actions():
    import json

    config = json.loads((ROOT / ".github" / "renovate.json").read_text())
    assert set(config["enabledManagers"]) == {"pip-compile", "github-actions"}
    patterns = [re.compile(p.strip("/")) for p in config["pip-compile"]["managerFilePatterns"]]
    for lock in ("requirements.lock", "requirements-test.lock"):
        assert any(p.search(lock) for p in patterns), lock
        # Renovate reruns the command in the lock's header, so it must be uv's own.
        header = (ROOT / lock).read_text().splitlines()[1]
        assert header.strip("# ").startswith("uv pip compile"), header
    assert config["lockFileMaintenance"]["enabled"] is True


# Renovate's pip-compile manager (lib/modules/manager/pip-compile/common.ts) reads the
# command from the header and refuses it unless every option is one it knows for uv and
# each option that takes a value is written --name=value.
_RENOVATE_HEADER = re.compile(r"^(#.*?\r?\n)+# {4}(?P<command>\S*)(?P<arguments> .*?)?\r?\n")
_RENOVATE_UV_WITH_VALUES = {"--constraints", "--python-version", "--no-emit-package",
                            "--output-file", "--extra", "--extra-index-url"}
_RENOVATE_UV_OPTIONS = {"--no-strip-extras", "--universal", "-v", "--generate-hashes",
                        "--emit-index-url", "--index-url", *_RENOVATE_UV_WITH_VALUES}


def renovate_header_problems(text, file_name):
    """What Renovate would refuse in a lock file's header command (empty: nothing)."""
    import shlex

    match = _RENOVATE_HEADER.match(text)
    if match is None or match["command"] != "uv":
        return ["no 'uv pip compile' command in the header"]
    arguments = shlex.split(match["arguments"] or "")
    if arguments[:2] != ["pip", "compile"]:
        return ["the command is not 'uv pip compile'"]
    problems, sources, outputs = [], [], []
    for argument in arguments[2:]:
        if not argument.startswith("-"):
            sources.append(argument)
        elif argument in _RENOVATE_UV_WITH_VALUES:
            problems.append(f"{argument} must be written {argument}=VALUE")
        elif argument.split("=", 1)[0] not in _RENOVATE_UV_OPTIONS:
            problems.append(f"option {argument} is not supported")
        elif argument.startswith("--output-file="):
            outputs.append(argument.split("=", 1)[1])
    if not sources:
        problems.append("no source file")
    if outputs != [file_name]:
        problems.append(f"--output-file must name the lock itself, got {outputs}")
    return problems


def test_renovate_can_read_the_lock_headers():
    for lock in ("requirements.lock", "requirements-test.lock"):
        assert renovate_header_problems((ROOT / lock).read_text(), lock) == [], lock
    # The rules refuse the header form uv writes for short or spaced options.
    old = ("# This file was autogenerated by uv via the following command:\n"
           "#    uv pip compile requirements.txt --generate-hashes --universal "
           "--python-version 3.11 --no-emit-package shrinkage -o requirements.lock\n")
    assert len(renovate_header_problems(old, "requirements.lock")) == 4
    # scripts/lock writes the headers in that form.
    script = (ROOT / "scripts" / "lock").read_text()
    assert "--python-version=3.11 --no-emit-package=shrinkage" in script
    assert '--output-file="$list.lock"' in script


def test_jupyterlab_opens_chapters_with_jupytexts_viewer():
    # scripts/lab installs these overrides; the viewer's name must be the one jupytext's
    # JupyterLab extension registers, or JupyterLab falls back to the text editor.
    import json

    overrides = json.loads((ROOT / "scripts" / "jupyterlab-overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert set(viewers) == {"markdown", "myst"}
    extension = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-jupytext"
    registered = "".join(p.read_text(errors="ignore") for p in extension.rglob("*.js"))
    for name in set(viewers.values()):
        assert f'"{name}"' in registered or f"'{name}'" in registered, name
    assert "overrides.json" in (ROOT / "scripts" / "lab").read_text()
