"""MCAP bag files: which files make a bag, opening them with one-line errors, their topics, writing one.

A bag is a ``.mcap`` file or a rosbag2 folder holding ``.mcap`` files (split recordings: read in the
order of ``metadata.yaml``'s ``relative_file_paths``, else by name). Reading needs each file's summary
(channels, schemas, message counts), which a recording cut short does not have; such a file is refused
with the command that repairs it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

import yaml

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.ros2.extra import import_robotics

BAG_SUFFIX = ".mcap"


def is_bag(path: str | os.PathLike) -> bool:
    """True for a ``.mcap`` file or a folder holding ``.mcap`` files (any other folder is an image folder)."""
    p = Path(path)
    if p.is_dir():
        return any(child.suffix.lower() == BAG_SUFFIX and child.is_file() for child in p.iterdir())
    return p.suffix.lower() == BAG_SUFFIX


def bag_files(path: str | os.PathLike) -> list[Path]:
    """The ``.mcap`` files of a bag, in recording order."""
    p = Path(path)
    if not p.is_dir():
        return [p]
    files = sorted(c for c in p.iterdir() if c.suffix.lower() == BAG_SUFFIX and c.is_file())
    meta = p / "metadata.yaml"
    if meta.is_file():
        try:
            info = yaml.safe_load(meta.read_text("utf-8")) or {}
            listed = info.get("rosbag2_bagfile_information", {}).get("relative_file_paths") or []
        except (yaml.YAMLError, AttributeError, UnicodeDecodeError):
            listed = []
        order = {name: i for i, name in enumerate(listed)}
        files.sort(key=lambda f: (order.get(f.name, len(order)), f.name))
    return files


@dataclass
class TopicInfo:
    """One topic of a bag: its message type (schema name), message count and the channels carrying it."""

    topic: str
    schema: str
    count: int


def _bag_error(path: Path, what: str) -> TrtPanopticError:
    return TrtPanopticError(
        f"source bag should be a complete MCAP file, got '{path}' ({what}) — if the recording was cut short, "
        f"repair it with: mcap recover '{path}' -o fixed.mcap"
    )


def read_summary(path: Path) -> Any:
    """The file's MCAP summary (``mcap.summary.Summary``), or a one-line error for a truncated/corrupt file."""
    reader_mod = import_robotics("mcap.reader")
    import_robotics("mcap_ros2.decoder")
    try:
        with open(path, "rb") as f:
            summary = reader_mod.make_reader(f).get_summary()
    except PermissionError:
        raise TrtPanopticError(f"source bag should be readable, got '{path}' (permission denied) — fix its permissions") from None
    except Exception as exc:  # noqa: BLE001 — mcap raises many kinds (EndOfFile, InvalidMagic, struct errors)
        raise _bag_error(path, f"{type(exc).__name__}: {str(exc) or 'unreadable'}".splitlines()[0][:160]) from None
    if summary is None:
        raise _bag_error(path, "no summary section")
    return summary


def topics(summary: Any) -> list[TopicInfo]:
    """Every topic of one file's summary with its schema name and message count (0 when not counted)."""
    counts = summary.statistics.channel_message_counts if summary.statistics else {}
    out: dict[str, TopicInfo] = {}
    for channel in summary.channels.values():
        schema = summary.schemas.get(channel.schema_id)
        name = schema.name if schema is not None else ""
        info = out.setdefault(channel.topic, TopicInfo(channel.topic, name, 0))
        info.count += int(counts.get(channel.id, 0))
    return list(out.values())


def bag_topics(files: list[Path]) -> list[TopicInfo]:
    """Topics of a whole bag (counts summed over its files), sorted by name."""
    merged: dict[str, TopicInfo] = {}
    for path in files:
        for info in topics(read_summary(path)):
            seen = merged.setdefault(info.topic, TopicInfo(info.topic, info.schema, 0))
            seen.count += info.count
    return sorted(merged.values(), key=lambda t: t.topic)


def iter_raw(files: list[Path], topic_names: list[str] | None = None) -> Iterator[tuple[Any, Any, Any]]:
    """``(schema, channel, message)`` records of a bag's files in log-time order (file by file), undecoded."""
    reader_mod = import_robotics("mcap.reader")
    for path in files:
        with open(path, "rb") as f:
            reader = reader_mod.make_reader(f)
            yield from reader.iter_messages(topics=topic_names, log_time_order=True)


class BagWriter:
    """An MCAP file with the ``ros2`` profile, written under a temporary name and renamed by :meth:`finish`.

    Schemas are registered once per (name, encoding, text) and channels once per (topic, schema, encoding),
    so raw messages copied from other bags and messages encoded here can share a file.

    Args:
        path: the target ``.mcap``.
        library: what wrote the file (the MCAP header's ``library`` field).
    """

    def __init__(self, path: str | os.PathLike, library: str) -> None:
        writer_mod = import_robotics("mcap.writer")
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".partial.mcap", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self._writer = writer_mod.Writer(self._file, compression=writer_mod.CompressionType.ZSTD)
        self._writer.start(profile="ros2", library=library)
        self._schemas: dict[tuple[str, str, bytes], int] = {}
        self._channels: dict[tuple[str, int, str], int] = {}
        self._sequence: dict[int, int] = {}
        self.messages = 0
        self._done = False

    def schema_id(self, name: str, encoding: str, data: bytes) -> int:
        key = (name, encoding, data)
        if key not in self._schemas:
            self._schemas[key] = self._writer.register_schema(name=name, encoding=encoding, data=data)
        return self._schemas[key]

    def channel_id(self, topic: str, schema_id: int, message_encoding: str = "cdr",
                   metadata: dict[str, str] | None = None) -> int:
        key = (topic, schema_id, message_encoding)
        if key not in self._channels:
            self._channels[key] = self._writer.register_channel(
                topic=topic, message_encoding=message_encoding, schema_id=schema_id, metadata=dict(metadata or {}))
        return self._channels[key]

    def ros2_channel(self, topic: str, type_name: str) -> int:
        """The channel of ``topic`` carrying CDR ``type_name`` with this package's definition of it."""
        from trt_panoptic.ros2.messages import definition

        schema = self.schema_id(type_name, "ros2msg", definition(type_name).encode("utf-8"))
        return self.channel_id(topic, schema)

    def add(self, channel_id: int, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        """Write one serialized message."""
        seq = self._sequence.get(channel_id, 0)
        self._sequence[channel_id] = seq + 1
        self._writer.add_message(channel_id=channel_id, log_time=int(log_time_ns), data=data,
                                 publish_time=int(log_time_ns if publish_time_ns is None else publish_time_ns),
                                 sequence=seq)
        self.messages += 1

    def finish(self, keep: bool = True) -> None:
        """Write the summary and rename the file into place (``keep``), or delete it; idempotent."""
        if self._done:
            return
        self._done = True
        try:
            try:
                self._writer.finish()
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
            if keep:
                os.chmod(self._tmp, 0o644)  # mkstemp made it 0600; a result bag is meant to be shared
                os.replace(self._tmp, self.path)
        finally:  # kept: renamed; dropped or failed (a full disk writing the summary): nothing left behind
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()

    def abandon(self) -> None:
        """Delete the temporary file without writing the real one."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
