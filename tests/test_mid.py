import csv
import io
import re
from importlib.resources import files

import pytest

from ais_watch.mid import country_name, flag_of, mid_of

pytestmark = pytest.mark.unit


def _rows() -> list[dict[str, str]]:
    text = files("ais_watch.data").joinpath("mid.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_header_and_size() -> None:
    text = files("ais_watch.data").joinpath("mid.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "mid,iso2,country"
    assert not any(line.startswith("#") for line in text.splitlines())
    assert 280 <= len(_rows()) <= 310


def test_csv_mids_three_digits_in_range_and_unique() -> None:
    mids = [row["mid"] for row in _rows()]
    for mid in mids:
        assert re.fullmatch(r"[2-7]\d\d", mid), mid
        assert 201 <= int(mid) <= 775, mid
    assert len(mids) == len(set(mids))


def test_csv_iso2_and_names() -> None:
    names: dict[str, str] = {}
    for row in _rows():
        assert re.fullmatch(r"[A-Z]{2}", row["iso2"]), row
        assert row["country"].strip() == row["country"] and row["country"], row
        # one name per code, so country_name is unambiguous
        assert names.setdefault(row["iso2"], row["country"]) == row["country"], row


# Expected flag per MID (ITU MID allocations; territories use their own ISO 3166-1 code)
KNOWN: dict[int, str] = {
    209: "CY",
    210: "CY",
    212: "CY",
    211: "DE",
    218: "DE",
    232: "GB",
    235: "GB",
    273: "RU",
    272: "UA",
    279: "RS",
    262: "ME",
    303: "US",
    366: "US",
    369: "US",
    312: "BZ",
    314: "BB",
    341: "KN",
    358: "PR",
    351: "PA",
    352: "PA",
    353: "PA",
    354: "PA",
    355: "PA",
    356: "PA",
    357: "PA",
    370: "PA",
    371: "PA",
    372: "PA",
    373: "PA",
    374: "PA",
    377: "VC",
    412: "CN",
    413: "CN",
    414: "CN",
    416: "TW",
    422: "IR",
    431: "JP",
    432: "JP",
    440: "KR",
    441: "KR",
    445: "KP",
    457: "MN",
    468: "SY",
    470: "AE",
    471: "AE",
    477: "HK",
    511: "PW",
    514: "KH",
    515: "KH",
    538: "MH",
    572: "TV",
    576: "VU",
    577: "VU",
    613: "CM",
    616: "KM",
    620: "KM",
    626: "GA",
    631: "GQ",
    636: "LR",
    637: "LR",
    667: "SL",
    668: "ST",
    671: "TG",
    674: "TZ",
    677: "TZ",
    775: "VE",
}


@pytest.mark.parametrize(("mid", "iso2"), sorted(KNOWN.items()))
def test_known_flags(mid: int, iso2: str) -> None:
    assert flag_of(mid * 1_000_000 + 123_456) == iso2


def test_ship_station() -> None:
    assert mid_of(273_123_456) == 273
    assert flag_of(273_123_456) == "RU"
    assert flag_of(445_000_001) == "KP"
    assert flag_of(671_234_567) == "TG"
    assert flag_of(201_000_000) == "AL"
    assert flag_of(775_999_999) == "VE"


def test_group_coast_sar_handheld_craft_aton() -> None:
    assert mid_of(27_312_345) == 273  # group of ships 0MIDXXXXX
    assert flag_of(44_512_345) == "KP"
    assert mid_of(2_731_234) == 273  # coast station 00MIDXXXX
    assert flag_of(6_711_234) == "TG"
    assert mid_of(111_273_123) == 273  # SAR aircraft 111MIDXXX
    assert flag_of(111_445_001) == "KP"
    assert mid_of(827_312_345) == 273  # handheld / diver 8MIDXXXXX
    assert flag_of(867_112_345) == "TG"
    assert mid_of(982_731_234) == 273  # craft associated with a parent ship 98MIDXXXX
    assert flag_of(984_451_234) == "KP"
    assert mid_of(992_731_234) == 273  # AIS AtoN 99MIDXXXX
    assert flag_of(992_351_234) == "GB"
    assert flag_of(993_661_234) == "US"


@pytest.mark.parametrize(
    "mmsi",
    [
        970_123_456,  # AIS-SART
        972_123_456,  # MOB
        974_123_456,  # EPIRB-AIS
        900_000_000,
        123_456_789,  # 1xx other than 111
        111_123_456,  # SAR aircraft with a MID starting 1
        1_000_000_000,
        -273_123_456,
        0,
        1_234_567,  # coast station 00123...: not a MID
        981_234_567,  # 98 + MID starting 1
        991_234_567,
        812_345_678,
    ],
)
def test_no_mid(mmsi: int) -> None:
    assert mid_of(mmsi) is None
    assert flag_of(mmsi) is None


def test_unallocated_mid() -> None:
    assert mid_of(200_123_456) == 200
    assert flag_of(200_123_456) is None
    assert flag_of(217_123_456) is None
    assert flag_of(799_999_999) is None


def test_country_name() -> None:
    assert country_name("RU") == "Russia"
    assert country_name("KP") == "North Korea"
    assert country_name("TG") == "Togo"
    assert country_name("km") == "Comoros"
    assert country_name("PT") == "Portugal"
    assert country_name("XX") is None
    assert country_name("") is None
