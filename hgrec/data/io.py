"""Readers for the raw files adapters parse: decompression, delimited text, JSON, with clear errors.

The fast path hands the bytes to pyarrow's CSV parser. Only when that fails do we re-scan the text
(vectorised with polars) to find the first offending line, so errors name file *and* line.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from hgrec.data.errors import DataError

_INT = r"^\s*-?\d+\s*$"
_FLOAT = r"^\s*(-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|NaN|inf|-inf)?\s*$"


def read_bytes(path: str | os.PathLike) -> bytes:
    """Whole file as bytes, transparently decompressing .gz/.bz2/.xz; corrupt archives -> DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path)
    if path.is_dir():
        raise DataError("expected a file, found a directory", path)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix)
    try:
        if opener is None:
            data = path.read_bytes()
        else:
            with opener(path, "rb") as f:
                data = f.read()
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
        raise DataError(f"truncated or corrupt {path.suffix} archive ({e})", path) from e
    if not data.strip():
        raise DataError("file is empty", path)
    return data


def decode_text(data: bytes, path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Bytes -> text; bytes that are not `encoding` -> DataError naming the file, line and column."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(f"not {encoding} text (byte {data[e.start]:#04x} at column {col}); "
                        f"convert the file to {encoding}", path, line) from e


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_delimited(
    path: str | os.PathLike,
    *,
    columns: dict[str, pa.DataType | None],
    sep: str = ",",
    header: bool = True,
    names: list[str] | None = None,
    encoding: str = "utf-8",
    required: list[str] | None = None,
) -> pl.DataFrame:
    """Parse a delimited text file into a polars frame with the given column types.

    `columns` maps column name -> arrow type (None: inferred) for the columns to keep. With
    `header=False`, `names` lists every field of a line. Any failure names the file and the line.
    """
    path = Path(path)
    data = read_bytes(path)
    if encoding != "utf-8":
        data = decode_text(data, path, encoding).encode("utf-8")
    read_opts = pacsv.ReadOptions(column_names=None if header else names, autogenerate_column_names=False)
    parse_opts = pacsv.ParseOptions(delimiter=sep, quote_char='"' if sep == "," else False)
    if header:
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")
        present = [c.strip('"') for c in first.split(sep)]
        missing = [c for c in (required or list(columns)) if c not in present]
        if missing:
            raise DataError(f"missing column(s) {missing}; the header has {present}", path, 1)
        names = present
    conv = pacsv.ConvertOptions(
        column_types={k: v for k, v in columns.items() if v is not None},
        include_columns=[c for c in columns if c in (names or [])],
        strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=read_opts, parse_options=parse_opts, convert_options=conv)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        decode_text(data, path)  # text that is not UTF-8: named by line and column
        line, why = _locate(data, sep, names or [], columns, header)
        raise DataError(why or f"cannot parse ({e})", path, line) from e
    if table.num_rows == 0:
        raise DataError("file has a header but no data rows", path)
    return pl.from_arrow(table)


def _locate(data: bytes, sep: str, names: list[str], columns: dict[str, pa.DataType], header: bool):
    """Find the first bad line after pyarrow refused the file (error path only, vectorised)."""
    lines = pl.Series("line", data.decode("utf-8", "replace").split("\n"))
    lineno = np.arange(1, len(lines) + 1)
    body = slice(1 if header else 0, None)
    lines, lineno = lines[body], lineno[body]
    keep = (lines.str.strip_chars() != "").to_numpy()
    lines, lineno = lines.filter(pl.Series(keep)), lineno[keep]
    if sep == ",":  # quoted commas: count fields with a CSV-aware split of each line
        nfields = lines.map_elements(lambda s: len(next(iter(__import__("csv").reader([s])))), return_dtype=pl.Int64)
    else:
        nfields = lines.str.count_matches(sep, literal=True) + 1
    bad = (nfields != len(names)).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        return int(lineno[i]), f"expected {len(names)} {_sep_name(sep)}-separated fields, got {int(nfields[i])}: {lines[i][:80]!r}"
    fields = lines.str.split(sep)
    for col, typ in columns.items():
        if col not in names:
            continue
        j = names.index(col)
        values = fields.list.get(j).str.strip_chars('"')
        if typ is None:
            continue
        if pa.types.is_integer(typ):
            ok = values.str.contains(_INT)
        elif pa.types.is_floating(typ):
            ok = values.str.contains(_FLOAT)
        else:
            continue
        ok = ok.to_numpy()
        if not ok.all():
            i = int(np.argmax(~ok))
            return int(lineno[i]), f"column '{col}': {values[i]!r} is not a valid {typ}"
    return None, None


def _sep_name(sep: str) -> str:
    return {"\t": "tab", ",": "comma", "|": "pipe", " ": "space"}.get(sep, repr(sep))


def read_token_lines(path: str | os.PathLike, min_tokens: int = 2) -> pl.DataFrame:
    """Lines of whitespace-separated tokens (`KEY tok tok ...`) -> long frame (line, key, pos, token).

    Used for Amazon's `user_sequence.txt` and IDGenRec's textual-ID file. Vectorised: one split and
    one explode, no Python loop over lines.
    """
    path = Path(path)
    text = decode_text(read_bytes(path), path)
    lines = pl.Series("raw", text.split("\n"))
    frame = pl.DataFrame({"raw": lines}).with_row_index("line", offset=1)
    frame = frame.filter(pl.col("raw").str.strip_chars() != "")
    frame = frame.with_columns(tok=pl.col("raw").str.strip_chars().str.split(" "))
    n = frame["tok"].list.len().to_numpy()
    if (n < min_tokens).any():
        i = int(np.argmax(n < min_tokens))
        raise DataError(
            f"expected a key and at least {min_tokens - 1} token(s), got {n[i]}: {frame['raw'][i][:80]!r}",
            path,
            int(frame["line"][i]),
        )
    frame = frame.select(
        "line", key=pl.col("tok").list.first(), tokens=pl.col("tok").list.slice(1)
    )
    return frame


def read_json(path: str | os.PathLike):
    path = Path(path)
    text = decode_text(read_bytes(path), path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e.msg} (column {e.colno})", path, e.lineno) from e
