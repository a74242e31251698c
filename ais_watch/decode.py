"""NMEA lines -> normalised reports. pyais does all AIS decoding; this module does the framing around it.

Framing handled here, one concern at a time:
- leading timestamp on a line (ISO 8601 or epoch seconds) written by many loggers;
- NMEA 4 tag blocks (`\\c:...,s:...*hh\\`), also on a line of their own before the sentence;
- Gatehouse `$PGHP` lines, whose time belongs to the next AIS sentence;
- a trailing `,<epoch>` after the checksum (AMSA ms, USCG seconds with `rSTATION`);
- `$xxZDA` lines, the only clock in some receiver logs (used as the stream's clock after the above);
- multi-part reassembly keyed by talker, channel, sequence id and tag-block group, with pending parts
  evicted after a TTL on receive time, after too many lines without their other parts, or when too
  many are held. Not on event time: a satellite or multi-station feed interleaves stations whose
  times are minutes apart, and the parts of one message still arrive lines apart.

Every line that is not used is counted by reason in IngestStats; nothing is dropped silently. Each line
fed ends up in exactly one place, so the counts add up to the lines (tests/test_fuzz_nmea.py checks it
line by line): skipped (blank or a '#' comment), context (a tag block alone, $PGHP, $xxZDA: read for the
sentences after it), a sentence of a whole message, a part still pending, or one reject in IngestStats
under a reason that is not one of MESSAGE_REJECTS (those count whole messages, after reassembly).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from operator import xor
from typing import Any, NamedTuple

import numpy as np
from pyais import bit_vector
from pyais.exceptions import AISBaseException, UnknownMessageException
from pyais.messages import MAX_PAYLOAD_LEN, MSG_CLASS, AISSentence, NMEASentenceFactory, TagBlock
from pyais.util import chk_to_int

from ais_watch.config import Settings
from ais_watch.model import (
    POSITION_TYPES,
    STATIC_TYPES,
    IngestStats,
    PositionReport,
    Report,
    StaticReport,
    course_degrees,
    from_epoch,
    heading_degrees,
    imo_is_valid,
    mmsi_is_valid,
    position_problem,
    speed_knots,
)

# Fewest bits a message must have for every field we read (ITU-R M.1371-5 field positions); a little
# below the full lengths, as receivers commonly send type 1 at 163-168 bits and type 5 at 420-424.
_MIN_BITS: dict[tuple[int, int | None], int] = {
    (1, None): 138, (2, None): 138, (3, None): 138,  # through true heading (bits 128-136)
    (18, None): 133,  # through true heading (bits 124-132)
    (19, None): 301,  # through the dimensions (bits 271-300)
    (27, None): 94,  # through course (bits 85-93)
    (5, None): 420,  # through the destination's 20 characters less the last two bits' padding
    (24, 0): 160,  # part A: the name (bits 40-159)
    (24, 1): 162,  # part B: through the dimensions (bits 132-161)
}
# Reject reasons that count whole messages (a multi-part one once), not lines; every other reason the
# decoder counts is one line each (a dropped multi-part message counts each of its parts).
MESSAGE_REJECTS = frozenset({"no_event_time", "undecodable", "unknown_type", "truncated_payload",
                             "no_position", "impossible_position"})
# hhmmss.ss,dd,mm,yyyy,zone hours,zone minutes. The zone fields are the offset of local time: the time is
# UTC whatever they say. Navico (Simrad, Lowrance, B&G) multifunction displays write a two-digit year,
# `$GPZDA,195719,16,04,14,-02,00`: read with the pivot below, as RMC's two-digit years are.
_ZDA = re.compile(rb"^\$..ZDA,(\d{2})(\d{2})(\d{2}(?:\.\d+)?),(\d{1,2}),(\d{1,2}),(\d{4}|\d{2}),")
_BARE_ZDA = re.compile(rb"\$..ZDA,\d{6}(?:\.\d+)?,\d{1,2},\d{1,2},(?:\d{4}|\d{2}),[-+]?\d{0,2},\d{0,2}")
ZDA_PIVOT = 80  # a two-digit ZDA year: 00-79 is 2000-2079, 80-99 is 1980-1999 (no AIS before 1980)
_LEADING_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s*UTC)?)$")


# What tells the parts of one multi-part message from another's: talker, channel, sequence id, tag-block
# group id (None without one) and the number of parts.
_PartsKey = tuple[str, str, int | None, int | None, int]


class _Tag(NamedTuple):
    """What the decoder uses of a tag block, read once for each distinct one (see NmeaDecoder._tag_block)."""

    valid: bool  # its checksum; nothing else is read from an invalid one
    when: datetime | None = None  # c:
    station: str | None = None  # s:
    group: int | None = None  # g:'s group id


@dataclass(slots=True)
class _Partial:
    parts: dict[int, AISSentence] = field(default_factory=dict)
    total: int = 0
    started: datetime | None = None  # receive time of the first part
    line_no: int = 0  # the stream's line count at the first part
    event_time: datetime | None = None
    fill_bits: int = 0  # of the last part: what the assembled payload's bit length depends on
    station: str | None = None


def _checksum_ok(sentence: bytes) -> bool:
    """NMEA checksum: XOR of the bytes between the start character and '*'."""
    star = sentence.rfind(b"*")
    if star < 1 or len(sentence) < star + 3:
        return False
    try:
        return reduce(xor, sentence[1:star], 0) == int(sentence[star + 1:star + 3], 16)
    except ValueError:
        return False


# Two hex digits and their value: a checksum read without int()'s leniency (a sign, a space, an underscore);
# anything else goes the slow way, through _checksum_ok, which says what int() says.
_HEX_DIGITS = "0123456789abcdefABCDEF"
_HEX_PAIRS = {(a + b).encode(): int(a + b, 16) for a in _HEX_DIGITS for b in _HEX_DIGITS}
_NO_XOR = -1  # a line's sentence checksum not computed ahead (see sentence_xors)


def sentence_xors(block: bytes) -> list[int]:
    """For each line of `block` (split at b"\\n"; a last line without one counts): the XOR of the bytes
    between its first byte and its first '*', or -1 when it has no '*' after its first byte.

    That is the NMEA checksum of a line that starts with its sentence ('!' or '$' first: no tag block,
    logger's timestamp or leading space). Done for a whole block with numpy, as one running XOR, rather
    than byte by byte in Python for each sentence (once by us for $PGHP, once by pyais for !AIVDM): the
    loop cost more than a third of what pyais takes to decode the message.
    """
    data = np.frombuffer(block, np.uint8)
    running = np.bitwise_xor.accumulate(data)  # running[i]: XOR of block[0..i]
    ends = np.flatnonzero(data == 10)
    if block and not block.endswith(b"\n"):
        ends = np.append(ends, len(block))
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    stars = np.flatnonzero(data == 42)
    first_star = np.append(stars, len(block))[np.searchsorted(stars, starts)]
    has_star = (first_star > starts) & (first_star < ends)
    first_star[~has_star] = starts[~has_star] + 1  # any index: the value is replaced below
    # XOR of block[start + 1:star] = running[star - 1] ^ running[start] (0 when the range is empty).
    xors = (running[first_star - 1] ^ running[starts]).astype(np.int16)
    xors[~has_star] = _NO_XOR
    result: list[int] = xors.tolist()
    return result


_CHECKSUM_FIELDS: dict[bytes, tuple[int, int]] = {}  # a sentence's last field, as chk_to_int reads it


def _plain_single_part(line: bytes, fields: list[bytes]) -> tuple[bytes, int, int, Any] | None:
    """Payload, fill bits, checksum and pyais's bit vector of a single-part sentence that AISSentence(line,
    fields) would take without complaint, read as it reads them; None for any other (left to AISSentence).

    Its checks are AISSentence's: ASCII, seven fields, part 1 of 1, no sequence id, a payload of 1 to
    MAX_PAYLOAD_LEN characters, 0-5 fill bits. AISSentence's object, its fields kept for what a single part
    never uses (talker, channel), was a third of pyais's work on a message; the payload is still decoded
    by pyais (bit_vector, and the message class's from_vector in _decode).
    """
    if (len(fields) != 7 or fields[1] != b"1" or fields[2] != b"1" or fields[3] or not fields[5]
            or len(fields[5]) > MAX_PAYLOAD_LEN or not line.isascii()):
        return None
    last = fields[6]
    parsed = _CHECKSUM_FIELDS.get(last)
    if parsed is None:
        parsed = chk_to_int(last)
        if len(_CHECKSUM_FIELDS) >= _CACHE_SIZE:
            _CHECKSUM_FIELDS.clear()
        _CHECKSUM_FIELDS[last] = parsed
    fill_bits, checksum = parsed
    if not 0 <= fill_bits <= 5:
        return None
    return fields[5], fill_bits, checksum, bit_vector(fields[5], fill_bits)


def _dollar_checksum_ok(line: bytes, xor_ahead: int) -> bool:
    """_checksum_ok(line), with the XOR computed ahead when `xor_ahead` is not _NO_XOR (see sentence_xors)."""
    if xor_ahead != _NO_XOR:
        star = line.find(b"*")  # where the XOR stopped; _checksum_ok's last '*' when it is two from the end
        expected = _HEX_PAIRS.get(line[star + 1:]) if len(line) == star + 3 else None
        if expected is not None:
            return expected == xor_ahead
    return _checksum_ok(line)


def _text(value: object) -> str | None:
    """AIS six-bit text as pyais returns it, with '@' padding and spaces trimmed; '' becomes None."""
    if not isinstance(value, str):
        return None
    cleaned = value.replace("@", " ").strip()
    return cleaned or None


def parse_leading_time(prefix: str) -> datetime | None:
    """A logger's timestamp before the sentence: ISO 8601 (UTC if no offset) or epoch seconds/ms."""
    text = prefix.strip().strip(",;|").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number > 1e11:  # milliseconds
            number /= 1000.0
        return from_epoch(number) if 0 < number < 4e9 else None
    if not _LEADING_ISO.match(text):
        return None
    text = text.replace(" UTC", "Z").replace("UTC", "Z").replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved past the edge by its offset
        return None


# $PGHP times by their second (year to second as written): the datetime is made once a second, not once
# a line, and the milliseconds added (parse_pghp, with a datetime() a line, was a tenth of the worker's time).
_PGHP_SECONDS: dict[tuple[bytes, ...], datetime | None] = {}
_MILLISECONDS = tuple(timedelta(milliseconds=ms) for ms in range(1000))
_PGHP_STATIONS: dict[bytes, str] = {}
_CACHE_SIZE = 4096  # entries in each cache above; emptied when full (a replay moves on)


# The last $PGHP's first eight fields, through the second with their commas, and that second: most lines
# carry the second of the line before, and are then split from the milliseconds on only.
_pghp_last_second: tuple[bytes, datetime | None] = (b"", None)


def parse_pghp(line: bytes) -> tuple[datetime, str | None] | None:
    """Gatehouse `$PGHP,1,yyyy,mm,dd,hh,mi,ss,ms,country,region,pss,online,...*hh`: time and station.

    Parsed here rather than by pyais's GatehouseSentence, which rejects the satellite variant whose
    'online' field reads '1AIS_S' (AMSA's recordings) and so would lose the time of every message.
    """
    global _pghp_last_second
    star = line.rfind(b"*")
    prefix, second = _pghp_last_second
    if prefix and line.startswith(prefix):  # the fields before the milliseconds are the last line's
        rest = line[len(prefix):star].split(b",")  # (no '*' in them: a '*' is after, or there is none)
    else:
        fields = line[:star].split(b",")
        if len(fields) < 9 or fields[1] != b"1":
            return None
        key = tuple(fields[2:8])
        try:
            second = _PGHP_SECONDS[key]
        except KeyError:
            try:
                second = datetime(int(fields[2]), int(fields[3]), int(fields[4]), int(fields[5]),
                                  int(fields[6]), int(fields[7]), tzinfo=UTC)
            except (ValueError, OverflowError):  # OverflowError: a number past a C long
                second = None
            if len(_PGHP_SECONDS) >= _CACHE_SIZE:
                _PGHP_SECONDS.clear()
            _PGHP_SECONDS[key] = second
        if second is None:
            return None
        _pghp_last_second = (b",".join(fields[:8]) + b",", second)
        rest = fields[8:]
    assert second is not None
    try:
        millis = int(rest[0])
    except ValueError:
        return None
    if not 0 <= millis <= 999:  # what datetime() refuses as microseconds
        return None
    station = None
    if len(rest) > 3 and rest[3]:
        raw_station = rest[3]
        station = _PGHP_STATIONS.get(raw_station)
        if station is None:
            station = raw_station.decode("ascii", "replace")
            if len(_PGHP_STATIONS) >= _CACHE_SIZE:
                _PGHP_STATIONS.clear()
            _PGHP_STATIONS[raw_station] = station
    return second + _MILLISECONDS[millis], station


def epoch_field_time(value: str | bytes | None) -> datetime | None:
    """A tag-block `c:` or trailing epoch: seconds, or milliseconds when it has 13 digits."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 1e11:
        number /= 1000.0
    return from_epoch(number) if 0 < number < 4e9 else None


def decoder_options(settings: Settings) -> dict[str, Any]:
    """NmeaDecoder's keyword arguments from the settings (decode.*), the one place they are read."""
    return {"fragment_ttl": settings["decode.fragment_ttl"],
            "max_pending": settings["decode.max_pending_fragments"],
            "max_fragment_lines": settings["decode.max_fragment_lines"]}


class NmeaDecoder:
    """Stateful decoder for one NMEA stream (one file, one TCP connection, one UDP listener).

    State is per stream because multi-part sequence ids and PGHP/ZDA context belong to a stream.
    `require_event_time` (replay) rejects messages with no time of their own instead of stamping
    them with the receive time, which in a replay would be wall time and wrong.
    """

    def __init__(self, source: str, stats: IngestStats, *, fragment_ttl: float = 60.0,
                 max_pending: int = 1000, max_fragment_lines: int = 1000,
                 require_event_time: bool = False) -> None:
        self.source = source
        self.stats = stats
        self.fragment_ttl = timedelta(seconds=fragment_ttl)
        self.max_pending = max_pending
        self.max_fragment_lines = max_fragment_lines
        self._line_no = 0
        self.require_event_time = require_event_time
        self._pending: OrderedDict[_PartsKey, _Partial] = OrderedDict()
        self._pending_tag: _Tag | None = None  # a tag block on a line of its own
        self._pghp_time: datetime | None = None  # applies to the next AIS sentence only
        self._pghp_station: str | None = None
        self._stream_clock: datetime | None = None  # last $GPZDA
        self._tag_cache: dict[bytes, _Tag] = {}
        # Where the lines went besides the rejects (see the module docstring).
        self.skipped_lines = 0
        self.context_lines = 0
        self.message_lines = 0

    @property
    def pending_parts(self) -> int:
        """Parts of multi-part messages held, waiting for their other parts."""
        return sum(len(partial.parts) for partial in self._pending.values())

    def _tag_block(self, raw: bytes) -> _Tag:
        """Parsed tag block; repeated ones (a station id with no time, as DMA writes) are parsed once."""
        tag = self._tag_cache.get(raw)
        if tag is None:
            parsed = TagBlock(raw)
            parsed.init()
            tag = _Tag(False)
            if parsed.is_valid:
                group = parsed.group
                tag = _Tag(True, epoch_field_time(parsed.receiver_timestamp), parsed.source_station,
                           group.group_id if group is not None else None)
            if len(self._tag_cache) >= 256:
                self._tag_cache.clear()
            self._tag_cache[raw] = tag
        return tag

    # ---------------------------------------------------------------- lines
    def feed(self, raw: bytes | str, received_at: datetime) -> list[Report]:
        """Decode one line. Returns the reports it completes (0, 1, or 2 for type 19)."""
        line = raw.encode("ascii", "replace") if isinstance(raw, str) else raw
        return self._feed(line, received_at, _NO_XOR)

    def feed_block(self, block: bytes, received_at: datetime) -> Iterator[tuple[bytes, list[Report]]]:
        """Each line of `block` (whole lines; split at b"\\n", which is not kept) with the reports it
        completes, exactly as feed() line by line: only the checksums are computed for the whole block at
        once (see sentence_xors)."""
        lines = block.split(b"\n")
        if not lines[-1]:  # the block's last newline ends its last line, it starts none
            lines.pop()
        feed = self._feed
        for line, xor_ahead in zip(lines, sentence_xors(block), strict=True):
            yield line, feed(line, received_at, xor_ahead)

    def _feed(self, raw: bytes, received_at: datetime, xor_ahead: int) -> list[Report]:
        """feed(), with `xor_ahead` the XOR of the line's bytes between its first and its first '*' when
        computed ahead (sentence_xors), else _NO_XOR. It is the sentence's checksum only while the
        sentence starts the line, which is checked here.

        The first byte is compared as a number (33 '!', 36 '$', 92 '\\'): this runs once a line, and a
        one-byte slice costs more."""
        stats = self.stats
        stats.lines += 1
        self._line_no += 1
        line = raw.strip()
        if not line or line[0] == 35:  # '#': a comment
            self.skipped_lines += 1
            return []
        first = line[0]
        if first != raw[0]:  # leading space stripped: the line's first byte is not the sentence's
            xor_ahead = _NO_XOR
        if first == 0xEF and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
            line = line[3:]
            first = line[0] if line else -1
            xor_ahead = _NO_XOR
        if first == 33 and line[3:6] in (b"VDM", b"VDO"):  # the common case: a bare sentence
            star = line.find(b"*")
            if star > 0 and len(line) > star + 3:
                return self._feed_ais(line[:star + 3], None, line[star + 3:], None, received_at, xor_ahead)
            return self._feed_ais(line, None, b"", None, received_at, xor_ahead)
        if first == 36:  # $PGHP, $xxZDA, receiver chatter: as below, with no tag block or leading time
            star = line.find(b"*")
            if star > 0 and len(line) > star + 3:
                line = line[:star + 3]
            return self._feed_dollar(line, xor_ahead)
        if first == 92:
            end = line.find(b"\\", 1)
            if end == len(line) - 1:  # another common case: a tag block alone, for the next sentence
                raw_tag = line[1:end]
                alone = self._tag_cache.get(raw_tag) or self._tag_block(raw_tag)
                if not alone.valid:
                    stats.reject("bad_tag_block_checksum")
                    return []
                self._pending_tag = alone
                self.context_lines += 1
                return []

        leading_time = None
        if first != 92:  # not '\\' (nor '$', taken above)
            cut = min((i for i in (line.find(b"!"), line.find(b"\\"), line.find(b"$")) if i > 0),
                      default=-1)
            if cut < 0:
                stats.reject("not_nmea")
                return []
            leading_time = parse_leading_time(line[:cut].decode("ascii", "replace"))
            if leading_time is None:
                stats.reject("bad_leading_timestamp")
                return []
            line = line[cut:]
            xor_ahead = _NO_XOR

        tag: _Tag | None = None
        if line[:1] == b"\\":
            end = line.find(b"\\", 1)
            if end < 0:
                stats.reject("bad_tag_block")
                return []
            tag = self._tag_block(line[1:end])
            if not tag.valid:
                stats.reject("bad_tag_block_checksum")
                return []
            line = line[end + 1:]
            if not line:
                self._pending_tag = tag  # belongs to the next AIS sentence
                self.context_lines += 1
                return []
            xor_ahead = _NO_XOR

        # Strip what loggers append after the checksum: ",<epoch>" (AMSA, USCG ",rSTATION,<epoch>").
        star = line.find(b"*")
        trailer = b""
        if star > 0 and len(line) > star + 3:
            trailer = line[star + 3:]
            line = line[:star + 3]

        if line[:1] == b"$":
            return self._feed_dollar(line, xor_ahead)
        if line[:1] != b"!" or line[3:6] not in (b"VDM", b"VDO"):
            stats.reject("not_nmea")
            return []
        return self._feed_ais(line, tag, trailer, leading_time, received_at, xor_ahead)

    def _feed_dollar(self, line: bytes, xor_ahead: int) -> list[Report]:
        """A $ sentence, what follows its checksum cut. A tag block on its line is not used."""
        stats = self.stats
        is_zda = line[3:6] == b"ZDA"
        if not is_zda and line[1:6] != b"PGHP,":
            stats.reject("non_ais_sentence")  # $BSALR, $AIVSI, ... receiver chatter, not errors
            return []
        # A ZDA written without any checksum (as the Navico line is quoted) is read when every field
        # is there and well formed; a checksum that is there must be right.
        if (not _dollar_checksum_ok(line, xor_ahead)
                and not (is_zda and b"*" not in line and _BARE_ZDA.fullmatch(line))):
            stats.reject("bad_checksum")
            return []
        if is_zda:
            match = _ZDA.match(line)
            if match is None:
                stats.reject("bad_zda")
                return []
            hh, mm, ss, day, month, year = match.groups()
            full_year = int(year) if len(year) == 4 else (2000 if int(year) < ZDA_PIVOT else 1900) + int(year)
            try:
                if int(hh) > 23 or int(mm) > 59 or float(ss) >= 61:  # 60.x: a leap second
                    raise ValueError("no such time of day")
                midnight = datetime.combine(date(full_year, int(month), int(day)), datetime.min.time(), UTC)
                clock = midnight + timedelta(hours=int(hh), minutes=int(mm), seconds=float(ss))
            except (ValueError, OverflowError):  # OverflowError: past the end of year 9999
                stats.reject("bad_zda")
                return []
            self._stream_clock = clock
            self.context_lines += 1
            return []
        parsed = parse_pghp(line)
        if parsed is None:
            stats.reject("bad_gatehouse")
            return []
        self._pghp_time, self._pghp_station = parsed
        self.context_lines += 1
        return []

    # ------------------------------------------------------------ sentences
    def _event_time(self, tag: _Tag | None, trailer: bytes,
                    leading_time: datetime | None) -> tuple[datetime | None, str | None]:
        """Event time and station, in the documented order of precedence."""
        station = None
        when = None
        if tag is not None:
            when = tag.when
            station = tag.station
        if when is None and self._pghp_time is not None:
            when = self._pghp_time
            station = station or self._pghp_station
        if trailer:
            for part in trailer.split(b","):
                if part[:1] == b"r" and station is None and len(part) > 1:
                    station = part[1:].decode("ascii", "replace")
                elif when is None and part.isdigit() and len(part) in (10, 13):
                    when = epoch_field_time(part)
        if when is None:
            when = leading_time
        if when is None:
            when = self._stream_clock
        return when, station

    def _feed_ais(self, line: bytes, tag: _Tag | None, trailer: bytes,
                  leading_time: datetime | None, received_at: datetime, xor_ahead: int) -> list[Report]:
        """`xor_ahead`: the sentence's checksum computed ahead, or _NO_XOR (see _feed)."""
        stats = self.stats
        if tag is None and self._pending_tag is not None:
            tag = self._pending_tag
        self._pending_tag = None
        sentence: AISSentence | None = None
        plain = None
        try:
            fields = line.split(b",")
            # What NMEASentenceFactory.produce does with such a line (nothing to strip, not a tag block,
            # the AIS type as written), without its checks and its second split.
            as_written = fields[0][3:] in (b"VDM", b"VDO") and line[-1] > 32
            if as_written and xor_ahead != _NO_XOR:  # checksum known: no AISSentence for a single part
                plain = _plain_single_part(line, fields)
            if plain is None and as_written:
                sentence = AISSentence(line, fields)
            elif plain is None:
                produced = NMEASentenceFactory.produce(line)
                assert isinstance(produced, AISSentence)
                sentence = produced
        except (AISBaseException, ValueError) as err:
            stats.reject("malformed_sentence" if "checksum" not in str(err).lower() else "bad_checksum")
            self._pghp_time = None
            return []
        if plain is not None:
            valid = plain[2] == xor_ahead
        elif xor_ahead == _NO_XOR:
            assert sentence is not None
            valid = sentence.is_valid
        else:  # pyais's is_valid would XOR the same bytes again: line[1:] up to the first '*'
            assert sentence is not None
            valid = sentence.checksum == xor_ahead
            if sentence.frag_cnt > 1:  # read by AISSentence.assemble_from_iterable
                sentence.is_valid = valid
        if not valid:
            stats.reject("bad_checksum")
            self._pghp_time = None
            return []

        when, station = self._event_time(tag, trailer, leading_time)
        self._pghp_time = None
        if self._pending:
            self._expire(received_at)

        if plain is not None:
            self.message_lines += 1
            return self._decode(None, plain[0], plain[1], plain[3], when, station, received_at)
        assert sentence is not None
        if sentence.frag_cnt == 1:
            self.message_lines += 1
            return self._decode(sentence, sentence.payload, sentence.fill_bits, None, when, station,
                                received_at)

        group = tag.group if tag is not None else None
        key = (sentence.talker_id, sentence.channel, sentence.seq_id, group, sentence.frag_cnt)
        partial = self._pending.get(key)
        if sentence.frag_num == 1 or partial is None or sentence.frag_num in partial.parts:
            if partial is not None:
                stats.reject("incomplete_multipart", len(partial.parts))
                del self._pending[key]
            if sentence.frag_num != 1:
                # A later part with no first part: its start was lost (reconnect, corrupted line).
                stats.reject("orphan_fragment")
                return []
            partial = _Partial(total=sentence.frag_cnt, started=received_at, line_no=self._line_no,
                               event_time=when, station=station)
            self._pending[key] = partial
            if len(self._pending) > self.max_pending:
                _, dropped = self._pending.popitem(last=False)
                stats.reject("incomplete_multipart", len(dropped.parts))
        partial.parts[sentence.frag_num] = sentence
        if sentence.frag_num == sentence.frag_cnt:
            partial.fill_bits = sentence.fill_bits
        if len(partial.parts) < partial.total:
            return []
        del self._pending[key]
        ordered = [partial.parts[i] for i in sorted(partial.parts)]
        try:
            whole = AISSentence.assemble_from_iterable(ordered)
        except (AISBaseException, ValueError):
            stats.reject("malformed_sentence", len(ordered))
            return []
        self.message_lines += len(ordered)
        whole.fill_bits = partial.fill_bits
        return self._decode(whole, whole.payload, whole.fill_bits, None, partial.event_time,
                            partial.station or station, received_at)

    def _expire(self, now: datetime) -> None:
        """Drop first parts, oldest first, that waited too long (receive time) or too many lines."""
        pending = self._pending
        oldest_line = self._line_no - self.max_fragment_lines
        while pending:
            key, partial = next(iter(pending.items()))
            fresh = partial.started is None or now - partial.started <= self.fragment_ttl
            if fresh and partial.line_no >= oldest_line:
                break
            del pending[key]
            self.stats.reject("incomplete_multipart", len(partial.parts))

    def close(self) -> None:
        """End of stream: whatever is still waiting for its other parts is incomplete."""
        if self._pending:
            self.stats.reject("incomplete_multipart", self.pending_parts)
            self._pending.clear()

    # --------------------------------------------------------------- decode
    def _decode(self, sentence: AISSentence | None, payload: bytes, fill_bits: int, bits_read: Any,
                when: datetime | None, station: str | None, received_at: datetime) -> list[Report]:
        """A whole message: `sentence`, or with None the payload `_plain_single_part` read (`bits_read`)."""
        stats = self.stats
        stats.messages += 1
        if when is None:
            if self.require_event_time:
                stats.reject("no_event_time")
                return []
            when = received_at
        try:
            if sentence is not None:
                msg = sentence.decode()
            else:
                try:  # AISSentence.decode(), for a payload that is not empty
                    msg = MSG_CLASS[bits_read.get(0, 6)].from_vector(bits_read)
                except KeyError as err:
                    raise UnknownMessageException("message type not supported") from err
        except (AISBaseException, ValueError, IndexError) as err:
            stats.reject("undecodable" if "not supported" not in str(err) else "unknown_type")
            return []
        msg_type = msg.msg_type
        if msg_type not in POSITION_TYPES and msg_type not in STATIC_TYPES:
            stats.other_types += 1
            return []
        # pyais decodes whatever bits there are: a field cut short reads as a smaller number (a latitude
        # of 12 for a ship at 48). A message too short for the fields we use is rejected, not misread.
        bits = len(payload) * 6 - fill_bits
        # Only type 24 has a part number: other types skip getattr's default, which costs an exception.
        part = getattr(msg, "partno", None) if msg_type == 24 else None
        if msg.mmsi is None or bits < _MIN_BITS.get((msg_type, part), 0):
            stats.reject("truncated_payload")
            return []
        try:
            return reports_from_message(msg, msg_type, when, self.source, received_at, station, payload,
                                        stats)
        except (TypeError, ValueError):  # other fields cut short by a truncated payload
            stats.reject("truncated_payload")
            return []


def reports_from_message(msg: Any, msg_type: int, when: datetime, source: str,
                         received_at: datetime, station: str | None, payload: bytes | None,
                         stats: IngestStats) -> list[Report]:
    """A message pyais decoded -> normalised reports (read by attribute: asdict() costs a third of it).
    `msg` is any of pyais's position or static message classes, whose fields differ: it is read by name."""
    mmsi = int(msg.mmsi)
    valid_mmsi = mmsi_is_valid(mmsi)
    if not valid_mmsi:
        stats.flag("invalid_mmsi")  # kept, but not trusted for identity
    reports: list[Report] = []
    if msg_type in POSITION_TYPES:
        lat = msg.lat
        lon = msg.lon
        problem = position_problem(lat, lon)
        if problem is not None:
            stats.reject(problem)
        else:
            status = getattr(msg, "status", None)
            accuracy = msg.accuracy
            reports.append(PositionReport(
                mmsi, when, float(lat), float(lon), speed_knots(msg.speed, msg_type),
                course_degrees(msg.course), heading_degrees(getattr(msg, "heading", None)),
                int(status) if status is not None else None,
                msg_type, source, received_at, station, bool(accuracy) if accuracy is not None else None,
                valid_mmsi, payload))
    if msg_type in STATIC_TYPES or msg_type == 19:
        reports.append(_static(_Fields(msg), msg_type, when, source, received_at, station, payload,
                               valid_mmsi, stats))
    if reports:
        stats.decoded += 1
    return reports


class _Fields:
    """dict-style .get() over a pyais message's attributes, without building the dict."""

    __slots__ = ("msg",)

    def __init__(self, msg: Any) -> None:
        self.msg = msg

    def get(self, name: str) -> Any:
        return getattr(self.msg, name, None)

    def __getitem__(self, name: str) -> Any:
        return getattr(self.msg, name)


def _static(fields: _Fields, msg_type: int, when: datetime, source: str, received_at: datetime,
            station: str | None, payload: bytes | None, valid_mmsi: bool,
            stats: IngestStats) -> StaticReport:
    report = StaticReport(mmsi=int(fields.msg.mmsi), time=when, msg_type=msg_type, source=source,
                          received_at=received_at, station=station, mmsi_valid=valid_mmsi, payload=payload)
    if msg_type == 24:
        report.part = "A" if fields.get("partno") == 0 else "B"
    if report.part != "B":
        report.name = _text(fields.get("shipname"))
    if report.part == "A":
        return report
    if msg_type != 19:
        report.call_sign = _text(fields.get("callsign"))
    ship_type = fields.get("ship_type")
    report.ship_type = int(ship_type) if ship_type else None
    for dim in ("to_bow", "to_stern", "to_port", "to_starboard"):
        value = fields.get(dim)
        setattr(report, dim, int(value) if value else None)
    if msg_type == 5:
        imo = fields.get("imo")
        report.imo = int(imo) if imo else None
        report.imo_valid = imo_is_valid(report.imo) if report.imo else None
        if report.imo_valid is False:
            stats.flag("invalid_imo")
        draught = fields.get("draught")
        report.draught = float(draught) if draught else None
        report.destination = _text(fields.get("destination"))
    return report
