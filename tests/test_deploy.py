"""The container and scheduler files under ``deploy/`` and the ``Dockerfile``.

Each file is parsed (PyYAML), the arguments it passes to ``etl-targets`` are
taken out of it and run through the CLI's own parser, then as a subprocess
against an empty temporary lake and the repository's sample landing area: a
dataset build with ``--dry-run`` appended, ``gc`` with ``--dry-run``,
``freshness`` as it is. Dates are the files' own: ``--date yesterday`` has
no sample landing file (the sample is January 2026), so the documented
missing-input exit 4 is what a correct setup gives there; the backfill Job's
January dates build (exit 0); ``freshness`` of an empty lake is stale (7).

No Docker daemon is needed: the Dockerfile is read instruction by
instruction, and the files it copies are built into an sdist, which proves
that ``pip install .`` has what it needs.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

yaml = pytest.importorskip("yaml")

from etl_targets.cli import build_parser  # noqa: E402
from etl_targets.datasets import DATASETS  # noqa: E402
from support.cli import etl_argv, explain, run_command  # noqa: E402
from support.env import cli_environment  # noqa: E402
from support.paths import REPO, SAMPLE_LANDING  # noqa: E402

DEPLOY = REPO / "deploy"
DOCKERFILE = REPO / "Dockerfile"
JOB, CRONJOB, WORKFLOW = (DEPLOY / name for name in
                          ("k8s-job.yaml", "k8s-cronjob.yaml", "github-actions-nightly.yml"))
#: what each command gives against an empty lake and the sample landing (see the docstring)
EXPECTED_EXIT = {
    ("so", "--date", "yesterday"): 4,
    ("so", "--start", "2026-01-01", "--end", "2026-01-03"): 0,
    ("gc",): 0,
    ("freshness", "--dataset", "so", "--expect", "yesterday"): 7,
}
SECRET_VALUE = re.compile(r"(AWS_SECRET_ACCESS_KEY|aws_secret_access_key|AWS_SESSION_TOKEN)"
                          r"\s*[:=]\s*['\"]?(?!\$\{\{)[A-Za-z0-9/+=]{8,}|\bAKIA[0-9A-Z]{16}\b")
CREDENTIAL_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


# --------------------------------------------------------------------------
# Reading the files
# --------------------------------------------------------------------------

def documents(path: Path) -> List[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def workloads() -> List[Tuple[str, dict]]:
    """(``file:name``, document) of every Job and CronJob under deploy/."""
    return [(f"{path.name}:{doc['metadata']['name']}", doc) for path in (JOB, CRONJOB)
            for doc in documents(path) if doc["kind"] in ("Job", "CronJob")]


def container(doc: dict) -> dict:
    (found,) = [c for c in pod_spec(doc)["containers"] if c["name"] == "etl-targets"]
    return found


def workflow() -> dict:
    return documents(WORKFLOW)[0]


def workflow_commands() -> List[List[str]]:
    """The ``etl-targets`` command lines of the workflow's steps, its variables expanded.

    ``RUN_DATE`` is the dispatch input ``date``, whose default a scheduled run gets.
    """
    flow = workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as True
    default = triggers["workflow_dispatch"]["inputs"]["date"]["default"]
    commands = []
    for job in flow["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                words = shlex.split(line.replace("$RUN_DATE", default))
                if words and words[0] == "etl-targets":
                    commands.append(words[1:])
    return commands


def every_command() -> Dict[str, List[str]]:
    """Where each command comes from -> the arguments it passes to etl-targets."""
    found = {where: container(doc)["args"] for where, doc in workloads()}
    for index, words in enumerate(workflow_commands()):
        found[f"{WORKFLOW.name}:{index}"] = words
    return found


def dockerfile() -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def final_stage() -> List[Tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def copies() -> List[Tuple[List[str], str]]:
    """(sources, destination) of every COPY, flags (``--chown``) left out."""
    found = []
    for op, rest in dockerfile():
        if op == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            found.append((words[:-1], words[-1]))
    return found


# --------------------------------------------------------------------------
# The commands the schedulers run
# --------------------------------------------------------------------------

def test_every_scheduled_command_is_one_the_cli_documents():
    commands = every_command()
    assert {tuple(args) for args in commands.values()} == set(EXPECTED_EXIT), commands
    parser = build_parser(DATASETS)
    for where, args in commands.items():
        parsed = parser.parse_args(args)
        if getattr(parsed, "check", None):
            parsed.check(parser, parsed)
        assert callable(parsed.run), where


def test_the_nightly_cronjob_builds_yesterday_and_never_overlaps():
    (nightly,) = [doc for where, doc in workloads() if "nightly" in where]
    assert container(nightly)["args"] == ["so", "--date", "yesterday"]
    assert nightly["spec"]["concurrencyPolicy"] == "Forbid"
    assert nightly["spec"]["schedule"].split()[2:] == ["*", "*", "*"]


def test_the_workflow_is_scheduled_nightly_and_runs_one_build_at_a_time():
    flow = workflow()
    triggers = flow.get("on", flow.get(True))
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]
    assert flow["concurrency"]["cancel-in-progress"] is False
    assert ["so", "--date", "yesterday"] in workflow_commands()


@pytest.mark.parametrize("where,doc", workloads(), ids=[w for w, _ in workloads()])
def test_workloads_pass_arguments_only_and_run_as_non_root(where, doc):
    spec = pod_spec(doc)
    assert "command" not in container(doc), f"{where}: the image's ENTRYPOINT is etl-targets"
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["serviceAccountName"] == "etl-targets"
    assert container(doc)["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("where,doc", workloads(), ids=[w for w, _ in workloads()])
def test_workloads_take_no_aws_credential_by_value(where, doc):
    for variable in container(doc).get("env", []):
        if variable["name"] in CREDENTIAL_NAMES:
            assert "value" not in variable, f"{where}: {variable['name']} has a value"


def test_no_file_holds_an_aws_secret():
    files = [DOCKERFILE, REPO / ".dockerignore", *sorted(DEPLOY.iterdir()),
             REPO / "docs" / "operations.md"]
    for path in files:
        assert not SECRET_VALUE.search(path.read_text()), f"{path} holds a credential"
    assert "secrets.AWS_ROLE_ARN" in WORKFLOW.read_text()


def _dry(args: List[str]) -> List[str]:
    if args[0] in DATASETS or args[0] == "gc":
        return [*args, "--dry-run"]
    return list(args)


def test_every_scheduled_command_runs_with_its_documented_exit_status(tmp_path):
    env = cli_environment(tmp_path / "lake", SAMPLE_LANDING, tmp_path / "logs")
    (tmp_path / "cwd").mkdir()
    commands = {tuple(args) for args in every_command().values()}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(commands)) as pool:
        runs = {args: pool.submit(run_command, etl_argv(*_dry(list(args))), cwd=tmp_path / "cwd",
                                  env=env, timeout=120) for args in commands}
    wrong = [f"{args} (expected {EXPECTED_EXIT[args]}): {explain(future.result())}"
             for args, future in runs.items()
             if future.result().returncode != EXPECTED_EXIT[args]]
    assert not wrong, "\n\n".join(wrong)
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))


# --------------------------------------------------------------------------
# The Dockerfile
# --------------------------------------------------------------------------

def test_the_image_is_python_3_11_slim_with_etl_targets_as_entry_point():
    steps = final_stage()
    assert steps[0] == ("FROM", "python:3.11-slim")
    entrypoints = [json.loads(rest) for op, rest in steps if op == "ENTRYPOINT"]
    assert entrypoints[-1] == ["etl-targets"]
    commands = [json.loads(rest) for op, rest in steps if op == "CMD"]
    assert commands[-1] == ["--help"]


def test_the_image_runs_as_a_non_root_user_in_a_folder_with_luigi_cfg():
    steps = final_stage()
    user = [rest for op, rest in steps if op == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    workdir = [rest for op, rest in steps if op == "WORKDIR"][-1]
    assert (["luigi.cfg"], "./luigi.cfg") in copies() or (["luigi.cfg"], f"{workdir}/luigi.cfg") \
        in copies()
    assert any(op == "ENV" and f"LUIGI_CONFIG_PATH={workdir}/luigi.cfg" in rest
               for op, rest in steps)
    assert any(op == "RUN" and "pip install ." in rest for op, rest in steps)


def test_the_image_bakes_in_no_aws_setting():
    for op, rest in dockerfile():
        if op in ("ENV", "ARG"):
            assert "AWS_" not in rest, f"{op} {rest}"


def _ignored(relative: str, patterns: List[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        if any(fnmatch.fnmatch("/".join(parts[:i + 1]), pattern) for i in range(len(parts))) or \
                (pattern.startswith("**/") and any(fnmatch.fnmatch(p, bare) for p in parts)):
            return True
    return False


def test_the_files_the_image_copies_exist_and_are_not_docker_ignored():
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for sources, _ in copies():
        for source in sources:
            assert (REPO / source).exists(), source
            assert not _ignored(source, patterns), f"{source} is excluded by .dockerignore"
    assert _ignored(".venv", patterns) and _ignored("data", patterns) and \
        _ignored("etl_targets/cli/__pycache__", patterns)


def test_the_copied_source_builds_the_package_with_its_console_script(tmp_path):
    """What ``pip install .`` in the image builds from: an sdist of exactly the COPY sources."""
    source = tmp_path / "src"
    source.mkdir()
    for sources, _ in copies()[:-1]:  # the last COPY is luigi.cfg into the working folder
        for name in sources:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, source / name, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, source / name)
    build = subprocess.run([sys.executable, "-c", "import setuptools.build_meta as b; "
                            f"print(b.build_sdist({str(tmp_path / 'out')!r}))"],
                           cwd=source, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, explain(build)
    with tarfile.open(tmp_path / "out" / build.stdout.split()[-1]) as sdist:
        names = sdist.getnames()
        (entry_points,) = [n for n in names if n.endswith(".egg-info/entry_points.txt")]
        scripts = sdist.extractfile(entry_points).read().decode()
    assert "etl-targets = etl_targets.cli:main" in scripts
    assert any(name.endswith("etl_targets/cli/gc.py") for name in names)


# --------------------------------------------------------------------------
# The operations guide
# --------------------------------------------------------------------------

def test_every_command_in_the_operations_guide_parses():
    guide = (REPO / "docs" / "operations.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", guide, re.S)
    commands = [shlex.split(line.split("  #")[0]) for block in blocks
                for line in block.splitlines() if line.startswith("etl-targets ")]
    assert len(commands) > 15
    parser = build_parser(DATASETS)
    for words in commands:
        parsed = parser.parse_args(words[1:])
        if getattr(parsed, "check", None):
            parsed.check(parser, parsed)
