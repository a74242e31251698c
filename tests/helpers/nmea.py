"""NMEA lines as a receiver sends them: sentences and NMEA 4 tag blocks with correct checksums, and
messages built with pyais's encoder."""

from __future__ import annotations

from functools import reduce
from operator import xor
from typing import Any

import pyais


def checksum(body: str | bytes) -> str:
    """The two hex digits after '*': the XOR of every byte between the start character and '*'."""
    raw = body.encode() if isinstance(body, str) else body
    return f"{reduce(xor, raw, 0):02X}"


def sentence(body: str | bytes, start: bytes = b"!") -> bytes:
    """A sentence with a correct checksum: sentence("AIVDM,1,1,,A,...,0"), sentence("GPZDA,...", b"$")."""
    raw = body.encode() if isinstance(body, str) else body
    return start + raw + b"*" + checksum(raw).encode()


def tag_block(body: str | bytes) -> bytes:
    """An NMEA 4 tag block with a correct checksum: tag_block("c:1683719212,s:STATION")."""
    raw = body.encode() if isinstance(body, str) else body
    return b"\\" + raw + b"*" + checksum(raw).encode() + b"\\"


def tagged(line: str | bytes, epoch: int, station: str) -> bytes:
    """`line` behind a tag block giving its event time (c:, Unix seconds) and receiving station (s:)."""
    return tag_block(f"c:{epoch},s:{station}") + (line.encode() if isinstance(line, str) else line)


def encode(seq_id: int | None = None, **fields: Any) -> list[bytes]:
    """A message built with pyais's encoder, as !AIVDM sentences on channel A (several for a long one)."""
    sentences = pyais.encode_dict(fields, talker_id="AI", sentence_type="VDM", radio_channel="A",
                                  seq_id=seq_id)
    return [s.encode() for s in sentences]
