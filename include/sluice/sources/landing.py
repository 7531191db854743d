"""A landing folder: files a user (or an upstream system) drops are that day's batch.

Layout::

    <landing>/<YYYY-MM-DD>/*.csv | *.parquet          observations of that day
    <landing>/labels/<YYYY-MM-DD>/*.csv | *.parquet   labels that arrived that day

A day whose folder does not exist has not been delivered yet. Every file in a day's folder is
part of the batch, read in name order, each on its own: CSV values are kept as the text in the file
(UTF-8, a header row, comma-separated, RFC 4180 quoting; an empty field is a missing value).

What cannot be used is never dropped and never blocks the rest of the day:

* a file that cannot be read as a whole (empty, not UTF-8, not CSV or Parquet, a folder or a
  symbolic link, a broken Parquet file, over the day's size limit) is a :class:`DeliveredFile` with
  a ``problem``; its bytes are kept under the ``keep`` folder (a hard link where the file system
  allows, else a copy) and ingestion quarantines it as a file;
* a CSV record with fewer or more fields than the header (a line cut by a writer that died, a stray
  delimiter) is kept as a row with a ``defect`` that names the counts and holds its text;
  ingestion quarantines it as a row.

Names starting with ``.`` (an upload's temporary file, ``.DS_Store``) are not part of the day.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sluice.sources import DeliveredFile, Delivery, DeliveryNotReady, Part

SUFFIXES = (".csv", ".parquet")
DEFAULT_MAX_DAY_BYTES = 256 * 2**20
CHUNK = 1 << 20
BLOCK_BYTES = 4 << 20
"""How much of a CSV file pyarrow parses at a time (its batches; a part holds several)."""
PARQUET_BATCH_ROWS = 65_536


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def keep_file(path: Path, folder: Path, sha256: str) -> str:
    """Keep the bytes of ``path`` in ``folder`` as ``<sha256[:12]>-<name>`` (idempotent): a hard
    link when the file system allows, else a copy written under a temporary name and renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha256[:12]}-{path.name}"
    if not target.exists():
        partial = folder / f".{target.name}.partial"
        partial.unlink(missing_ok=True)
        try:
            os.link(path, partial)
        except OSError:
            shutil.copyfile(path, partial)
        partial.replace(target)
    return str(target)


def _header(path: Path) -> list[str]:
    """The CSV header's names (a UTF-8 byte-order mark is dropped)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for names in csv.reader(handle):
            if names:  # blank lines before the header are skipped, as pyarrow skips them
                return names
    raise ValueError("no header row (the file holds only blank lines)")


def _fields(text: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text)))
    except (StopIteration, csv.Error):
        return [text]


def _open_csv(path: Path, width: int, invalid: Callable[[Any], str]) -> Any:
    """pyarrow's streaming CSV reader over ``path``'s records after the header, every value text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    positions = [str(i) for i in range(width)]
    return pacsv.open_csv(
        path,
        # one thread: the records' numbers are only known when parsing in order
        read_options=pacsv.ReadOptions(
            use_threads=False, column_names=positions, skip_rows=1, block_size=BLOCK_BYTES
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(positions, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def scan_csv(path: Path) -> tuple[list[str], int, list[int]]:
    """Read every record of a CSV file once, keeping none: its header's names, how many records
    are well formed, and the numbers (1-based, among the file's records) of the malformed ones.
    Whatever makes the file unreadable (not UTF-8, a quote never closed) raises here."""
    names = _header(path)
    malformed: list[int] = []

    def invalid(row: Any) -> str:  # fewer or more fields than the header
        # pyarrow numbers records from the header's (1); a data record's number is one less
        malformed.append(row.number - 1)
        return "skip"

    good = sum(batch.num_rows for batch in _open_csv(path, len(names), invalid))
    return names, good, sorted(malformed)


def _numbers(start: int, count: int, skipped: np.ndarray) -> np.ndarray:
    """The ``count`` record numbers from ``start`` on that are not in ``skipped`` (sorted)."""
    stop = start + count
    while True:
        inside = int(np.searchsorted(skipped, stop) - np.searchsorted(skipped, start))
        if stop - start - inside >= count:
            break
        stop = start + count + inside
    candidates = np.arange(start, stop, dtype="int64")
    return candidates[~np.isin(candidates, skipped)][:count]


def _malformed_part(texts: list[str], names: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Malformed records as rows: their fields (padded or cut to the header's), and each defect."""
    width = len(names)
    bad = pd.DataFrame(
        [(_fields(text) + [None] * width)[:width] for text in texts], columns=names, dtype=object
    )
    defects = [f"{len(_fields(text))} fields where the header has {width}: {text!r}" for text in texts]
    return bad.where(bad.ne(""), None), defects


def csv_chunks(path: Path, names: list[str], malformed: list[int], rows: int | None) -> Iterator[Part]:
    """The file's records in file order, malformed ones included (with their defect), as parts of
    about ``rows`` well-formed records (None: one part). ``malformed``: :func:`scan_csv`'s numbers:
    with them each well-formed record's number is known as soon as its batch is read."""
    import pyarrow as pa

    skipped = np.asarray(malformed, dtype="int64")
    pending: list[tuple[int, str]] = []  # malformed records the parser met, not yet given out
    next_number = 1

    def invalid(row: Any) -> str:
        pending.append((row.number - 1, row.text))
        return "skip"

    def part(batches: list[Any], final: bool) -> Part:
        nonlocal next_number
        good = pa.Table.from_batches(batches, schema=reader.schema).to_pandas().astype(object)
        good.columns = names
        numbers = _numbers(next_number, len(good), skipped).tolist()
        if numbers:
            next_number = numbers[-1] + 1
        mine = sorted(p for p in pending if final or p[0] < next_number)
        pending[:] = [] if final else [p for p in pending if p[0] >= next_number]
        if not mine:
            return Part(None, good, numbers, [None] * len(numbers))
        bad, said = _malformed_part([text for _, text in mine], names)
        frame = pd.concat([good, bad], ignore_index=True)
        source_rows = numbers + [number for number, _ in mine]
        defects = [None] * len(numbers) + said
        order = np.argsort(np.asarray(source_rows), kind="stable")
        return Part(
            None,
            frame.iloc[order].reset_index(drop=True),
            [source_rows[i] for i in order],
            [defects[i] for i in order],
        )

    reader = _open_csv(path, len(names), invalid)
    batches: list[Any] = []
    for batch in reader:
        batches.append(batch)
        if rows is not None and sum(b.num_rows for b in batches) >= rows:
            yield part(batches, final=False)
            batches = []
    if batches or pending or next_number == 1:
        yield part(batches, final=True)


def scan_parquet(path: Path) -> tuple[list[str], int]:
    """Read every row group of a Parquet file once, keeping none: its columns and row count."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as handle:
        names = [str(c) for c in handle.schema_arrow.empty_table().to_pandas().columns]
        rows = sum(batch.num_rows for batch in handle.iter_batches(batch_size=PARQUET_BATCH_ROWS))
    return names, rows


def parquet_chunks(path: Path, rows: int | None) -> Iterator[Part]:
    """The file's rows in order, as parts of about ``rows`` rows (None: one part)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def part(batches: list[Any], first: int) -> Part:
        frame = pa.Table.from_batches(batches, schema=handle.schema_arrow).to_pandas()
        frame = frame.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return Part(None, frame, list(range(first, first + len(frame))))

    with pq.ParquetFile(path) as handle:
        batches: list[Any] = []
        first = 1
        for batch in handle.iter_batches(batch_size=min(rows or PARQUET_BATCH_ROWS, PARQUET_BATCH_ROWS)):
            batches.append(batch)
            if rows is not None and sum(b.num_rows for b in batches) >= rows:
                done = part(batches, first)
                first += len(done.frame)
                batches = []
                yield done
        if batches or first == 1:
            yield part(batches, first)


@dataclass
class FilePart:
    """A readable file's records, read again from the file when iterated, a bounded part at a time
    (a day larger than memory lands in parts). ``rows`` counts the records, malformed ones too;
    ``stamp`` is the file's size and modification time when it was checked."""

    file: DeliveredFile
    path: Path
    columns: list[str]
    rows: int
    malformed: list[int] = field(default_factory=list)
    stamp: tuple[int, int] = (0, 0)

    def chunks(self, rows: int | None = None) -> Iterator[Part]:
        """The records in parts; :class:`DeliveryNotReady` when the file changed since it was
        checked (an upload still under way): what was read of it must not be landed."""
        csv_file = self.path.suffix.lower() == ".csv"
        parts = (
            csv_chunks(self.path, self.columns, self.malformed, rows)
            if csv_file
            else parquet_chunks(self.path, rows)
        )
        read = 0
        try:
            for part in parts:
                part.file = self.file
                read += len(part.frame)
                yield part
        except (ValueError, OSError) as exc:  # pyarrow's errors are ValueErrors
            raise self._changed(f"it no longer reads: {exc}") from exc
        if read != self.rows or _stamp(self.path) != self.stamp:
            raise self._changed(f"{self.rows} records when it was checked, {read} when it was read")

    def _changed(self, how: str) -> DeliveryNotReady:
        return DeliveryNotReady(
            f"{self.file.name} changed while it was being landed ({how}): "
            "the day is landed again once its files stay unchanged"
        )


def _stamp(path: Path) -> tuple[int, int]:
    found = path.stat()
    return found.st_size, found.st_mtime_ns


def structure_problem(names: list[str], expected: tuple[str, ...] | None) -> str | None:
    """Why a file with these column names cannot be used (None: it can). Every file of a day is
    checked on its own: a file that lacks a column does not pass thanks to its sibling."""
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        return f"the header names {', '.join(map(repr, repeated))} more than once"
    if expected is None:
        return None
    missing = [c for c in expected if c not in names]
    unexpected = [n for n in names if n not in expected]
    if not missing and not unexpected:
        return None
    said = [f"missing {', '.join(map(repr, missing))}"] if missing else []
    said += [f"unexpected {', '.join(map(repr, unexpected))}"] if unexpected else []
    return f"its columns are not the declared ones ({'; '.join(said)})"


def read_file(
    path: Path,
    *,
    keep: Path | None,
    budget: int | None,
    expected: tuple[str, ...] | None = None,
) -> tuple[DeliveredFile, FilePart | None]:
    """One file of a day, read through once: its records (read again when landed), or the problem
    that makes none of them usable (the file is then kept under ``keep``). ``expected``: the
    columns every file must have, no more, no fewer."""
    name = path.name
    if path.is_symlink():
        return DeliveredFile(name, 0, problem="a symbolic link: links are not followed"), None
    if path.is_dir():
        return DeliveredFile(name, 0, problem="a folder: only the day folder's own files are read"), None
    stamp = _stamp(path)
    size = stamp[0]
    sha256 = _sha256(path)
    problem: str | None = None
    names: list[str] = []
    rows: int | None = None
    malformed: list[int] = []
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        problem = f"not a CSV or Parquet file (the name ends in {suffix or 'no suffix'!r})"
    elif size == 0:
        problem = "an empty file (0 bytes)"
    elif budget is not None and size > budget:
        problem = (
            f"over the day's size limit: {size / 2**20:.1f} MB with {budget / 2**20:.1f} MB of "
            "the day's limit (SLUICE_MAX_DAY_MB) left"
        )
    else:
        try:
            if suffix == ".csv":
                names, good, malformed = scan_csv(path)
                rows = good + len(malformed)
            else:
                names, rows = scan_parquet(path)
            problem = structure_problem(names, expected)
        except UnicodeDecodeError as exc:
            problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        except (ValueError, OSError, csv.Error) as exc:  # pyarrow's errors are ValueErrors
            problem = f"cannot be read as {suffix[1:].upper()}: {exc}"
        except Exception as exc:  # a broken file may raise anything from a parser; it is the file's
            problem = f"cannot be read as {suffix[1:].upper()}: {type(exc).__name__}: {exc}"
    kept = keep_file(path, keep, sha256) if problem and keep is not None else None
    file = DeliveredFile(name, size, sha256, rows, tuple(names), problem, kept)
    if problem:
        return file, None
    return file, FilePart(file, path, names, rows, malformed, stamp)


def read_folder(
    folder: Path,
    *,
    keep: Path | None = None,
    max_bytes: int | None = None,
    expected: tuple[str, ...] | None = None,
) -> Delivery:
    """Every file of ``folder`` (name order), each read and checked on its own."""
    files, parts = [], []
    left = max_bytes
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            continue
        file, part = read_file(path, keep=keep, budget=left, expected=expected)
        files.append(file)
        if part is not None:
            parts.append(part)
            if left is not None:
                left -= file.size
    return Delivery(parts, files)


@dataclass(frozen=True)
class LandingSource:
    root: Path
    name: str = "landing"
    label_columns: tuple[str, ...] = ("sample_id", "label", "labelled_at")
    keep: Path | None = None
    """Where files that cannot be used are kept (``<keep>/<day>/…``, ``<keep>/labels/<day>/…``)."""
    max_day_bytes: int | None = DEFAULT_MAX_DAY_BYTES
    """The most a day's files may hold together; a file that would go over it is not read."""

    def _folder(self, day: dt.date, labels: bool = False) -> Path:
        return self.root / "labels" / day.isoformat() if labels else self.root / day.isoformat()

    def _keep(self, day: dt.date, labels: bool = False) -> Path | None:
        if self.keep is None:
            return None
        return self.keep / "labels" / day.isoformat() if labels else self.keep / day.isoformat()

    def deliver(self, day: dt.date, as_of: dt.datetime, columns: tuple[str, ...] | None = None) -> Delivery:
        """The day file by file; ``columns``: what every file must hold (None: any columns)."""
        folder = self._folder(day)
        if not folder.is_dir():
            raise DeliveryNotReady(f"nothing delivered for {day}: {folder} does not exist")
        return read_folder(folder, keep=self._keep(day), max_bytes=self.max_day_bytes, expected=columns)

    def deliver_labels(self, day: dt.date, as_of: dt.datetime) -> Delivery:
        folder = self._folder(day, labels=True)
        if not folder.is_dir():
            return Delivery([], [])
        return read_folder(
            folder,
            keep=self._keep(day, labels=True),
            max_bytes=self.max_day_bytes,
            expected=self.label_columns,
        )

    def fetch(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        """The day's usable rows as one frame (what :meth:`deliver` reads, without the files)."""
        return _frame(self.deliver(day, as_of), ())

    def fetch_labels(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        return _frame(self.deliver_labels(day, as_of), self.label_columns)


def _frame(delivery: Delivery, columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [p.frame for p in delivery.chunks()]
    if not frames:
        return pd.DataFrame({c: [] for c in columns})
    return pd.concat(frames, ignore_index=True)
