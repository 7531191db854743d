"""A landing folder: files a user (or an upstream system) drops are that day's batch.

Layout::

    <landing>/<YYYY-MM-DD>/*.csv | *.parquet          observations of that day
    <landing>/labels/<YYYY-MM-DD>/*.csv | *.parquet   labels that arrived that day

A day whose folder does not exist has not been delivered yet. Every file in a day's folder is
part of the batch (read in name order). CSV values are kept as the text in the file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sluice.sources import DeliveryNotReady

SUFFIXES = (".csv", ".parquet")


def read_folder(folder: Path) -> pd.DataFrame:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    frames = []
    for path in files:
        try:
            if path.suffix.lower() == ".csv":
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            else:
                frame = pd.read_parquet(path)
        except (ValueError, OSError) as exc:  # unreadable files are a delivery error, named
            raise ValueError(f"landing file {path} cannot be read: {exc}") from exc
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@dataclass(frozen=True)
class LandingSource:
    root: Path
    name: str = "landing"
    label_columns: tuple[str, ...] = ("sample_id", "label", "labelled_at")

    def fetch(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        folder = self.root / day.isoformat()
        if not folder.is_dir():
            raise DeliveryNotReady(f"nothing delivered for {day}: {folder} does not exist")
        return read_folder(folder)

    def fetch_labels(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        folder = self.root / "labels" / day.isoformat()
        if not folder.is_dir():
            return pd.DataFrame({c: [] for c in self.label_columns})
        return read_folder(folder)
