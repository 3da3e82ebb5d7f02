"""RFC 4180 quoting that pyarrow's reader would repair quietly fails the file.

pyarrow reads ``"x"y`` as ``xy`` and keeps the quote of ``ab"c``; silver
refuses both (docs/data-contract.md, "Malformed files"). The check sees the
file a block at a time, so every case is also cut at every byte: the verdict
and the byte it names never depend on where a block ends.
"""

import io

import pytest

from etl_targets.errors import ContractError
from etl_targets.formats import _QuotingCheck, csv_batches

WELL_FORMED = [
    b'a,"b,c",d\n',  # a quoted comma
    b'a,"b""c",d\n',  # a doubled quote inside a quoted field
    b'"",x\n',  # an empty quoted field
    b'"a"""\n',  # a field ending with a doubled quote
    b'x,"multi\nline",y\r\n',  # a line break inside quotes, CRLF
    b'x,"a"\r\n"b",c\n',  # a quoted field at the end and at the start of a line
    b'"a"',  # the file ends on a closing quote
]

#: (text, the 1-based byte the error names)
BROKEN = [
    (b'a,"x"y,d\n', 5),  # text after a closing quote
    (b'a,ab"c,d\n', 5),  # a quote inside an unquoted field
    (b'"a" ,b\n', 3),  # a space after a closing quote
]


def verdict(text: bytes, cut: int):
    check = _QuotingCheck("zheSO-2026-1-1.csv", 0)
    try:
        for block in (text[:cut], text[cut:], b""):
            check.feed(block)
    except ContractError as error:
        return str(error)
    return "ok"


@pytest.mark.parametrize("text", WELL_FORMED)
def test_well_formed_quoting_passes_wherever_a_block_ends(text):
    assert {verdict(text, cut) for cut in range(len(text) + 1)} == {"ok"}


@pytest.mark.parametrize("text,byte", BROKEN)
def test_broken_quoting_names_the_file_and_the_byte_wherever_a_block_ends(text, byte):
    said = {verdict(text, cut) for cut in range(len(text) + 1)}
    assert said == {f"zheSO-2026-1-1.csv: is not well-formed CSV: broken quoting at byte {byte} "
                    f"(text after a closing quote, or a quote inside an unquoted field)"}


def test_the_byte_counts_from_the_start_of_the_file_header_included():
    header = b"A,B\n"
    handle = io.BytesIO(header + b'1,"x"y\n')
    handle.seek(len(header))
    with pytest.raises(ContractError, match="broken quoting at byte 9 "):
        list(csv_batches(handle, 2, [0, 1], "f.csv"))


def test_a_well_formed_body_reads_as_pyarrow_reads_it():
    handle = io.BytesIO(b'1,"a ""b"", c"\n2,plain\n')
    (batch,) = list(csv_batches(handle, 2, [0, 1], "f.csv"))
    assert batch.column("f1").to_pylist() == ['a "b", c', "plain"]
