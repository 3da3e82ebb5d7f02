"""The SO graph written the obvious way with stock luigi: the comparison.

Same stages, same lake layout and roughly the same cleaning rules as
``etl_targets``, but built from plain ``luigi.contrib.s3.S3Target`` (boto3)
and ``luigi.LocalTarget``, with pandas for the transforms. Luigi checks each
output target on its own (one ``HEAD`` per existing S3 target; a missing one
costs a ``HEAD``, two directory-marker ``GET``s and a listing), and
month-to-date reads every silver file of the month again for each date.

To give stock luigi its best reasonable shot, one ``S3Client`` (one boto3
resource) is shared by every target of the process instead of one per
target.
"""

import datetime as dt
import decimal
import hashlib
import io
import json

import luigi
import luigi.format
import pandas as pd
from luigi.contrib.s3 import S3Client, S3Target

# The contract's header -> silver name map and required columns, shared with the scripts.
from script_common import HEADERS as COLUMNS, REQUIRED  # noqa: E402

REGIONS = {v.casefold(): v for v in ("North", "South", "East", "West")}
STATUSES = {v.casefold(): v for v in ("OPEN", "SHIPPED", "INVOICED", "CANCELLED")}
INTEGER = r"^[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)$"
PRICE = r"^\+?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d{0,2}0*)?$"
MEASURES = dict(orders=("so_number", "nunique"), lines=("so_number", "size"),
                qty=("qty", "sum"), revenue=("line_amount", "sum"))

_client = None


def target(url: str):
    """An S3Target for ``s3://`` URLs, a LocalTarget otherwise (bytes, no decoding)."""
    global _client
    if url.startswith("s3://"):
        _client = _client or S3Client()
        return S3Target(url, format=luigi.format.Nop, client=_client)
    return luigi.LocalTarget(url, format=luigi.format.Nop)


def read(tgt) -> bytes:
    with tgt.open("r") as handle:
        return handle.read()


def write(tgt, data: bytes) -> None:
    with tgt.open("w") as handle:
        handle.write(data)


def landing_name(day: dt.date) -> str:
    return f"zheSO-{day.year}-{day.month}-{day.day}.csv"


class StockTask(luigi.Task):
    date = luigi.DateParameter()
    lake_root = luigi.Parameter(significant=False)
    landing_root = luigi.Parameter(significant=False)

    def lake(self, stage: str, table: str, name: str = "data.parquet") -> str:
        return f"{self.lake_root}/{stage}/{table}/date={self.date.isoformat()}/{name}"


class Landing(StockTask, luigi.ExternalTask):
    def output(self):
        return target(f"{self.landing_root}/so/{landing_name(self.date)}")


class Bronze(StockTask):
    def requires(self):
        return self.clone(Landing)

    def output(self):
        return {"file": target(self.lake("bronze", "so", landing_name(self.date))),
                "manifest": target(self.lake("bronze", "so", "_manifest.json"))}

    def run(self):
        data = read(self.input())
        write(self.output()["file"], data)
        manifest = {"source_name": landing_name(self.date), "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "rows": max(data.count(b"\n") - 1, 0)}
        write(self.output()["manifest"], json.dumps(manifest).encode())


class Silver(StockTask):
    def requires(self):
        return self.clone(Bronze)

    def output(self):
        return {"silver": target(self.lake("silver", "so")),
                "rejects": target(self.lake("silver", "so_rejects"))}

    def run(self):
        name = landing_name(self.date)
        silver, rejects = clean(read(self.input()["file"]), name)
        write(self.output()["rejects"], to_parquet(rejects))
        write(self.output()["silver"], to_parquet(silver))


class Gold(StockTask):
    def requires(self):
        return self.clone(Silver)

    def output(self):
        return target(self.lake("gold", "so_daily_sales"))

    def run(self):
        silver = pd.read_parquet(io.BytesIO(read(self.input()["silver"])))
        write(self.output(), to_parquet(aggregate(silver, ["region", "sku", "currency"])))


class GoldMTD(StockTask):
    def requires(self):
        first = self.date.replace(day=1)
        return [self.clone(Silver, date=first + dt.timedelta(days=k))
                for k in range(self.date.day)]

    def output(self):
        return target(self.lake("gold", "so_mtd_by_region"))

    def run(self):
        columns = ["so_number", "line", "region", "qty", "currency", "status",
                   "last_modified", "line_amount"]
        days = []
        for task, inputs in zip(self.requires(), self.input()):
            day = pd.read_parquet(io.BytesIO(read(inputs["silver"])), columns=columns)
            days.append(day.assign(day=task.date))
        month = pd.concat(days, ignore_index=True)
        month = month.sort_values(["so_number", "line", "last_modified", "day"], kind="stable")
        month = month.drop_duplicates(["so_number", "line"], keep="last")
        write(self.output(), to_parquet(aggregate(month, ["region", "currency"])))


def clean(data: bytes, source: str):
    """Landing CSV -> (silver, rejects) DataFrames with pandas."""
    raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                      skip_blank_lines=True, encoding="utf-8-sig")
    raw.columns = [COLUMNS.get(c.strip().casefold(), "") for c in raw.columns]
    raw = raw.loc[:, raw.columns != ""]
    text = raw.apply(lambda column: column.str.strip())
    reason = pd.Series("", index=text.index)

    def reject(mask, why):
        reason[mask & (reason == "")] = why

    for column in REQUIRED:
        reject(text[column] == "", f"{column}: required")
    df = pd.DataFrame(index=text.index)
    df["so_number"], df["customer_id"], df["sku"] = text.so_number, text.customer_id, text.sku
    df["customer_name"] = text.customer_name
    for column, minimum in (("line", 1), ("qty", 1)):
        ok = text[column].str.match(INTEGER)
        number = pd.to_numeric(text[column].str.replace(",", "").where(ok), errors="coerce")
        reject(~ok | number.isna() | (number < minimum), f"{column}: not a valid number")
        df[column] = number
    df["order_date"] = pd.to_datetime(text.order_date, format="%m/%d/%Y", errors="coerce")
    reject(df.order_date.isna(), "order_date: not a date")
    df["last_modified"] = pd.to_datetime(text.last_modified, format="%Y-%m-%d %H:%M:%S",
                                         errors="coerce")
    reject(df.last_modified.isna(), "last_modified: not a timestamp")
    df["region"] = text.region.str.casefold().map(REGIONS)
    reject(df.region.isna(), "region: not canonical")
    df["status"] = text.status.str.casefold().map(STATUSES)
    reject(df.status.isna(), "status: not canonical")
    ok = text.currency.str.match(r"^[A-Za-z]{3}$")
    reject(~ok, "currency: not 3 letters")
    df["currency"] = text.currency.str.upper()
    ok = text.unit_price.str.match(PRICE)
    reject(~ok, "unit_price: not a price")
    df["unit_price"] = [decimal.Decimal(v.replace(",", "")).quantize(decimal.Decimal("0.01"))
                        if good else None for v, good in zip(text.unit_price, ok)]
    df["row_number"] = range(1, len(df) + 1)
    bad = reason != ""
    rejects = raw[bad].assign(source_file=source, row_number=df.row_number[bad],
                              reject_reason=reason[bad])
    silver = df[~bad].copy()
    silver["line"] = silver.line.astype("int32")
    silver["qty"] = silver.qty.astype("int64")
    silver["line_amount"] = [q * p for q, p in zip(silver.qty.tolist(), silver.unit_price)]
    silver = silver.sort_values(["so_number", "line", "last_modified", "row_number"],
                                kind="stable")
    silver = silver.drop_duplicates(["so_number", "line"], keep="last")
    return silver.drop(columns="row_number"), rejects


def aggregate(silver: pd.DataFrame, keys) -> pd.DataFrame:
    kept = silver[silver.status != "CANCELLED"]
    return kept.groupby(keys, sort=True).agg(**MEASURES).reset_index()


def to_parquet(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()
