"""One exit-code table: every command maps failures through it, and the README shows it."""

import re

import pytest

from etl_targets.cli import exitcodes
from etl_targets.errors import (ConfigError, ContractError, EtlError, MissingInputError,
                                StorageError, UsageError)

from support.paths import REPO

README = REPO / "README.md"


def readme_exit_table():
    """code -> meaning, from the README's "Exit status" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit status", 1)[1].split("\n## ", 1)[0]
    return {int(code): meaning.strip()
            for code, meaning in re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M)}


def test_readme_exit_table_is_the_code_table_word_for_word():
    assert readme_exit_table() == exitcodes.MEANINGS


@pytest.mark.parametrize("error,code", [
    (UsageError("--max-age: bad"), exitcodes.BAD_ARGUMENTS),
    (ConfigError("no lake"), exitcodes.CONFIG_ERROR),
    (MissingInputError("no file"), exitcodes.MISSING_INPUT),
    (ContractError("f.csv", "lacks Qty"), exitcodes.TASK_FAILED),
    (StorageError("cannot read"), exitcodes.TASK_FAILED),
    (EtlError("anything of ours"), exitcodes.TASK_FAILED),
    (KeyError("a bug"), exitcodes.INTERNAL_ERROR),
])
def test_each_error_type_maps_to_its_documented_status(error, code):
    assert exitcodes.for_error(error) == code


def test_no_module_outside_the_table_maps_errors_to_codes_by_hand():
    package = README.parent / "etl_targets"
    offenders = []
    for path in package.rglob("*.py"):
        if path.name == "exitcodes.py":
            continue
        if re.search(r"isinstance\(exc, \w+Error\)", path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(package)))
    assert offenders == []
