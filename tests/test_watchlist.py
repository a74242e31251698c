"""The watchlist: keys, importers (CSV, OFAC SDN, OpenSanctions), the store, matching, the commands."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.config import load_settings
from ais_watch.errors import AisWatchError
from ais_watch.model import imo_is_valid
from ais_watch.watchlist.commands import add_parser, run
from ais_watch.watchlist.entries import WatchEntry, WatchlistError, canonical_key, normalise_name
from ais_watch.watchlist.importers import (
    detect_format,
    parse_imo,
    read_csv,
    read_ofac_sdn,
    read_opensanctions,
    read_watchlist,
)
from ais_watch.watchlist.index import WatchlistIndex
from ais_watch.watchlist.store import (
    DEFAULT_WATCHLIST,
    list_entries,
    load_index,
    remove,
    seed_default,
    upsert,
)
from tests.helpers.paths import FIXTURES

OFAC = FIXTURES / "watchlist" / "ofac_sdn_sample_2024-05-03.csv"
OFAC_VESSELS = {"LADY RANIA", "SPARTA II", "AMBAL", "MARIA E", "PIZHMA", "SPARTA", "SPARTA III", "SPARTA IV",
                "ADLER", "ANGARA", "ASCALON", "LADY R", "MAIA-1", "CAPTAIN YAKUBOVICH", "MARIA",
                "ARKADIY CHERNYSHEV"}
# "Identification Number IMO ..." of the six companies in the sample: company numbers, not ships.
OFAC_COMPANY_NUMBERS = {5937219, 6016988, 6246853, 6183435, 5344160}


def entry(name: str | None = None, imo: int | None = None, mmsi: int | None = None, *,
          source: str = "test", tags: tuple[str, ...] = ()) -> WatchEntry:
    return WatchEntry(name=name, imo=imo, mmsi=mmsi, flag=None, reason=None, source=source, tags=tags)


# ------------------------------------------------------------------------------------ identifiers
@pytest.mark.unit
def test_imo_check_digit() -> None:
    assert imo_is_valid(9179842)  # ANGARA: 9*7+1*6+7*5+9*4+8*3+4*2 = 172 -> 2
    assert imo_is_valid(9784893) and imo_is_valid(8517839)
    assert not imo_is_valid(9179843) and not imo_is_valid(1234568) and not imo_is_valid(123456)
    for text in ("9179842", "IMO 9179842", "IMO9179842", "imo: 9179842", " 9179842 "):
        assert parse_imo(text) == 9179842
    with pytest.raises(ValueError, match="IMO 1234568 fails its check digit"):
        parse_imo("1234568")
    with pytest.raises(ValueError, match="not a 7-digit number"):
        parse_imo("91798")


@pytest.mark.unit
def test_key_precedence() -> None:
    assert entry("ANGARA", 9179842, 273123456).key == "imo:9179842"
    assert entry("ANGARA", 9179843, 273123456).key == "mmsi:273123456"  # wrong IMO check digit
    assert entry("Angara-2", 9179843, 111111111).key == "name:ANGARA 2"  # MMSI not a station's
    assert entry("Angara", None, 12345).key == "name:ANGARA"
    with pytest.raises(WatchlistError):
        _ = entry(None, None, None).key


@pytest.mark.unit
def test_name_normalisation() -> None:
    assert normalise_name("MAIA-1") == normalise_name("Maia 1") == normalise_name("  maia   1.") == "MAIA 1"
    assert normalise_name("Captain  Yakubovich") == "CAPTAIN YAKUBOVICH"
    assert normalise_name("Mariá") == "MARIA"
    assert normalise_name("@@@") == normalise_name(None) == ""
    assert canonical_key("IMO:9179842") == canonical_key("9179842") == "imo:9179842"
    assert canonical_key("273382620") == "mmsi:273382620"
    assert canonical_key("name:Maia-1") == "name:MAIA 1"
    with pytest.raises(WatchlistError, match="not a watchlist key"):
        canonical_key("imo:12")


# ---------------------------------------------------------------------------------------- CSV
CSV_TEXT = (
    "name,imo,mmsi,flag,reason,source,tags,dark_threshold_hours\n"   # 1
    "ANGARA,9179842,,Russia,OFAC RUSSIA-EO14024,OFAC SDN,dprk;ofac,\n"  # 2
    "\n"                                                               # 3: blank, not counted
    "Lady Rania,IMO 9784893,273382620,Russia,,,,12\n"                  # 4
    "\"MAIA-1, quoted\",9358010,,Russia,\"reported as \"\"MAIA\"\"\",RUSI,,\n"  # 5
    "ONLY BY MMSI,,273000111,,,,,\n"                                    # 6
    "TYPO,1234568,,Russia,a typo in the IMO,,,\n"                       # 7
    "BAD MMSI,,12345,,,,,\n"                                            # 8
    ",,,,no identity,,,\n"                                              # 9
    "Angara,9179842,,,,second source,rusi,\n"                           # 10: same ship as line 2
    "NAMED ONLY,,,,,,,\n"                                               # 11
    "SLOW,,273000222,,,,,-1\n"                                          # 12
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.unit
def test_csv_import_reports_a_bad_imo_by_line_and_imports_the_rest(tmp_path: Path) -> None:
    entries, report = read_csv(write(tmp_path, "list.csv", CSV_TEXT))
    assert report.read == 10
    assert "line 7: IMO 1234568 fails its check digit" in report.problems
    assert "line 8: MMSI '12345' is not a valid 9-digit MMSI" in report.problems
    assert "line 9: no IMO, MMSI or name" in report.problems
    assert any(p.startswith("line 10: same ship as line 2") for p in report.problems)
    assert any(p.startswith("line 12: dark_threshold_hours") for p in report.problems)
    assert report.skipped == {"bad IMO": 1, "bad MMSI": 1, "no IMO, MMSI or name": 1,
                              "same ship as an earlier row (merged)": 1, "bad dark_threshold_hours": 1}
    by_key = {e.key: e for e in entries}
    assert list(by_key) == ["imo:9179842", "imo:9784893", "imo:9358010", "mmsi:273000111", "name:NAMED ONLY"]
    assert report.read == len(entries) + sum(report.skipped.values())
    angara = by_key["imo:9179842"]
    assert angara.tags == ("dprk", "ofac", "rusi") and angara.source == "second source"
    rania = by_key["imo:9784893"]
    assert (rania.mmsi, rania.dark_threshold, rania.source) == (273382620, 12 * 3600.0, "file list.csv")
    assert by_key["imo:9358010"].name == "MAIA-1, quoted"
    assert by_key["imo:9358010"].reason == 'reported as "MAIA"'


@pytest.mark.unit
def test_csv_with_bom_and_crlf_and_the_bundled_default(tmp_path: Path) -> None:
    path = write(tmp_path, "excel.csv", "\ufeffName,IMO,MMSI,Flag,Reason,Source\r\nANGARA,9179842,,,,\r\n")
    entries, report = read_csv(path)
    assert [e.key for e in entries] == ["imo:9179842"] and report.problems == []
    entries, report = read_csv(DEFAULT_WATCHLIST)
    assert len(entries) == 13 and report.skipped == {} and report.problems == []
    assert all(e.key.startswith("imo:") and "ofac" in e.tags for e in entries)
    assert {e.name: e.aliases for e in entries}["MARIA E"] == ("MARIA",)


@pytest.mark.unit
def test_a_file_that_is_not_the_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="not a watchlist CSV"):
        read_csv(OFAC)
    with pytest.raises(WatchlistError, match="not an OFAC SDN CSV"):
        read_ofac_sdn(DEFAULT_WATCHLIST)
    with pytest.raises(WatchlistError, match="not an OpenSanctions file"):
        read_opensanctions(OFAC)
    with pytest.raises(WatchlistError, match="not OpenSanctions FollowTheMoney"):
        read_opensanctions(write(tmp_path, "x.json", '{"no": "schema"}\n'))
    with pytest.raises(WatchlistError, match="no such file"):
        read_watchlist(tmp_path / "missing.csv")
    with pytest.raises(WatchlistError, match="unknown watchlist format 'xml'"):
        read_watchlist(OFAC, "xml")
    with pytest.raises(WatchlistError, match="cannot tell"):
        read_watchlist(write(tmp_path, "notes.txt", "hello world\n"))
    gz = tmp_path / "sdn.csv.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00rest")
    with pytest.raises(WatchlistError, match="compressed"):
        read_watchlist(gz, "ofac-sdn")


# ---------------------------------------------------------------------------------------- OFAC
@pytest.mark.unit
def test_ofac_sample_imports_exactly_the_vessels() -> None:
    entries, report = read_ofac_sdn(OFAC)
    assert report.read == 22 and report.skipped == {"not a vessel": 6} and report.problems == []
    assert {e.name for e in entries} == OFAC_VESSELS and len(entries) == 16
    assert all(e.key.startswith("imo:") for e in entries)
    assert not OFAC_COMPANY_NUMBERS & {e.imo for e in entries}
    assert not any(e.name == "OBORONLOGISTIKA" or "LLC" in (e.name or "") for e in entries)
    by_name = {e.name: e for e in entries}
    rania = by_name["LADY RANIA"]
    assert (rania.imo, rania.mmsi, rania.flag) == (9784893, 273382620, "Russia")
    assert rania.reason == "OFAC RUSSIA-EO14024; Linked To: ALFA-LIZING OOO"
    assert rania.source == "OFAC SDN 36400" and rania.tags == ("ofac", "russia-eo14024")
    maria_e = by_name["MARIA E"]
    assert (maria_e.imo, maria_e.aliases, maria_e.flag) == (9617923, ("MARIA",), "Togo")
    assert by_name["MARIA"].imo == 8517839 and by_name["MARIA"].aliases == ()
    assert detect_format(OFAC) == "ofac-sdn"


@pytest.mark.unit
def test_ofac_cp1252_eof_mark_and_bad_imo(tmp_path: Path) -> None:
    lines = OFAC.read_bytes().split(b"\r\n")[:2]
    extra = ('99999,"NU\u00d1EZ STAR","vessel","SDGT",-0- ,-0- ,"Tanker",-0- ,-0- ,"Panama",-0- ,'
             '"Vessel Registration Identification IMO 9179843; MMSI 352000001; f.k.a. \'OLD \u00d1AME\'."')
    path = tmp_path / "SDN.CSV"
    path.write_bytes(b"\r\n".join([*lines, extra.encode("cp1252"), b"\x1a"]) + b"\r\n")
    entries, report = read_ofac_sdn(path)
    assert report.read == 3 and report.skipped == {"not a vessel": 1}
    assert report.problems == ["line 3: NU\u00d1EZ STAR: IMO 9179843 fails its check digit; kept without it"]
    star = entries[-1]
    assert (star.key, star.name, star.aliases, star.flag) == ("mmsi:352000001", "NU\u00d1EZ STAR",
                                                              ("OLD \u00d1AME",), "Panama")


# ------------------------------------------------------------------------------- OpenSanctions
FTM_LINES = [
    {"id": "ofac-37059", "schema": "Vessel", "caption": "ANGARA",
     "properties": {"name": ["ANGARA"], "alias": ["ANGARA-1"], "previousName": ["HUNI"],
                    "imoNumber": ["IMO9179842"], "flag": ["ru"], "type": ["Roll-on Roll-off"],
                    "topics": ["sanction"], "buildDate": ["1998"]},
     "datasets": ["us_ofac_sdn", "gb_fcdo_sanctions"], "referents": [], "target": True,
     "first_seen": "2022-05-09T00:00:00", "last_seen": "2024-05-03T00:00:00"},
    {"id": "NK-abc", "schema": "Vessel", "caption": "MARIA E",
     "properties": {"name": ["MARIA E"], "alias": ["MARIA"], "imoNumber": ["9617923"], "flag": ["tg"],
                    "mmsi": ["408123456"], "topics": ["sanction", "mare.shadow"]},
     "datasets": ["us_ofac_sdn"]},
    {"id": "ofac-37065", "schema": "Company", "caption": "M LEASING LLC",
     "properties": {"name": ["M LEASING LLC"], "imoNumber": ["6246853"], "topics": ["sanction"]},
     "datasets": ["us_ofac_sdn"]},
    {"id": "ofac-sanc-1", "schema": "Sanction", "properties": {"entity": ["ofac-37059"],
                                                               "program": ["RUSSIA-EO14024"]}},
    {"id": "gb-x", "schema": "Vessel", "caption": "TYPO STAR",
     "properties": {"name": ["TYPO STAR"], "imoNumber": ["IMO 1234568"], "mmsi": ["273000333"]},
     "datasets": ["gb_fcdo_sanctions"]},
    {"id": "un-y", "schema": "Vessel", "caption": "NAMELESS HULL",
     "properties": {"name": ["Nameless Hull"], "topics": ["poi"]}, "datasets": ["un_1718_vessels"]},
]


@pytest.mark.unit
def test_opensanctions_ftm_json_lines(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(line) for line in FTM_LINES) + "\n\nnot json\n"
    path = write(tmp_path, "entities.ftm.json", text)
    assert detect_format(path) == "opensanctions"
    entries, report = read_watchlist(path)
    assert report.read == 7
    assert report.skipped == {"not a vessel": 2, "not an entity": 1}
    assert report.problems == ["line 5: TYPO STAR: IMO 1234568 fails its check digit; kept without it",
                               "line 8: not JSON (Expecting value)"]
    by_key = {e.key: e for e in entries}
    assert list(by_key) == ["imo:9179842", "imo:9617923", "mmsi:273000333", "name:NAMELESS HULL"]
    angara = by_key["imo:9179842"]
    assert angara.aliases == ("ANGARA-1", "HUNI") and angara.flag == "RU"
    assert angara.source == "OpenSanctions ofac-37059" and angara.tags == ("opensanctions", "sanction")
    assert angara.reason == "OpenSanctions sanction (gb_fcdo_sanctions, us_ofac_sdn)"
    maria_e = by_key["imo:9617923"]
    assert maria_e.mmsi == 408123456 and maria_e.aliases == ("MARIA",)
    assert 6246853 not in {e.imo for e in entries}  # the company's IMO number


MARITIME_CSV = (
    '"type","caption","imo","risk","countries","flag","mmsi","id","url","datasets","aliases"\n'
    '"VESSEL","LADY RANIA","IMO9784893","sanction","ru","ru","273382620","ofac-36400",'
    '"https://www.opensanctions.org/entities/ofac-36400/","us_ofac_sdn","LADY RANIA II"\n'
    '"ORGANIZATION","M LEASING LLC","IMO6246853","sanction","ru","","","ofac-37065","u","us_ofac_sdn",""\n'
    '"VESSEL","SPARTA III","IMO9538892","sanction;sanction.linked","ru","ru","","ofac-37028","u",'
    '"gb_fcdo_sanctions;us_ofac_sdn","URSA MAJOR;SPARTA 3"\n'
    '"VESSEL","NO IDS","","poi","kp","kp","x;273000444","os-1","u","kp_rusi_reports",""\n'
)


@pytest.mark.unit
def test_opensanctions_maritime_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "maritime.csv", MARITIME_CSV)
    assert detect_format(path) == "opensanctions"
    entries, report = read_opensanctions(path)
    assert report.read == 4 and report.skipped == {"not a vessel": 1}
    assert report.problems == ["line 5: NO IDS: MMSI 'x' is not a valid 9-digit MMSI; kept without it"]
    by_key = {e.key: e for e in entries}
    assert list(by_key) == ["imo:9784893", "imo:9538892", "mmsi:273000444"]
    assert by_key["imo:9784893"].mmsi == 273382620
    sparta = by_key["imo:9538892"]
    assert sparta.aliases == ("URSA MAJOR", "SPARTA 3") and sparta.tags == ("opensanctions", "sanction",
                                                                              "sanction.linked")
    assert sparta.reason == "OpenSanctions sanction, sanction.linked (gb_fcdo_sanctions, us_ofac_sdn)"


# --------------------------------------------------------------------------------------- store
@pytest.mark.integration
async def test_reimport_updates_never_duplicates(engine: AsyncEngine) -> None:
    default, _ = read_csv(DEFAULT_WATCHLIST)
    assert await upsert(engine, default) == (13, 0)
    assert await upsert(engine, default) == (0, 13)
    before = {row["key"]: row for row in await list_entries(engine)}
    assert len(before) == 13

    ofac, _ = read_ofac_sdn(OFAC)
    assert await upsert(engine, ofac) == (3, 13)  # LADY RANIA, ADLER, ASCALON are new
    rows = {row["key"]: row for row in await list_entries(engine)}
    assert len(rows) == 16
    angara = rows["imo:9179842"]
    assert angara["tags"] == ["dprk-russia-munitions", "ofac", "russia-eo14024"]  # tags accumulate
    assert angara["source"] == "OFAC SDN 37059"
    assert angara["created_at"] == before["imo:9179842"]["created_at"]
    assert rows["imo:9617923"]["aliases"] == ["MARIA"]
    assert await upsert(engine, ofac) == (0, 16)
    assert len(await list_entries(engine)) == 16


@pytest.mark.integration
async def test_an_entry_known_by_name_or_mmsi_is_upgraded_by_its_imo(engine: AsyncEngine) -> None:
    early = [entry("Lady-Rania", source="tip-off", tags=("tip",)),
             entry("OLD NAME", mmsi=273000555), entry("MARIA", source="ambiguous")]
    assert await upsert(engine, early) == (3, 0)
    created = {row["key"]: row["created_at"] for row in await list_entries(engine)}
    later = [entry("LADY RANIA", 9784893, 273382620, source="OFAC SDN 36400"),
             entry("NEW NAME", 9179842, 273000555, source="list"),
             # Two ships named MARIA in one import: which one the name entry meant is unknown.
             entry("MARIA", 8517839), entry("MARIA", 9617923)]
    assert await upsert(engine, later) == (2, 2)
    rows = {row["key"]: row for row in await list_entries(engine)}
    assert set(rows) == {"imo:9784893", "imo:9179842", "name:MARIA", "imo:8517839", "imo:9617923"}
    rania = rows["imo:9784893"]
    assert rania["created_at"] == created["name:LADY RANIA"]
    assert (rania["name"], rania["tags"], rania["aliases"]) == ("LADY RANIA", ["tip"], [])
    renamed = rows["imo:9179842"]
    assert (renamed["name"], renamed["aliases"], renamed["mmsi"]) == ("NEW NAME", ["OLD NAME"], 273000555)
    # Known by IMO, listed again by its MMSI alone: the same entry, not a second one.
    assert await upsert(engine, [entry("LADY RANIA", mmsi=273382620, source="by MMSI")]) == (0, 1)
    rows = {row["key"]: row for row in await list_entries(engine)}
    assert len(rows) == 5 and rows["imo:9784893"]["source"] == "by MMSI"

    assert await remove(engine, "IMO:9179842") is True
    assert await remove(engine, "imo:9179842") is False
    assert await remove(engine, "name:maria") is True
    assert len(await list_entries(engine)) == 3


@pytest.mark.integration
async def test_seed_default_seeds_once(engine: AsyncEngine) -> None:
    assert await seed_default(engine) == 13
    assert await seed_default(engine) == 0
    assert len(await list_entries(engine)) == 13
    index = await load_index(engine)
    assert len(index) == 13 and index.match(273000001, True, 9179842, None) is not None
    for row in await list_entries(engine):
        assert await remove(engine, row["key"])
    await upsert(engine, [entry("MY OWN", mmsi=273000666)])
    assert await seed_default(engine) == 0  # the user's own list is never added to
    assert [row["key"] for row in await list_entries(engine)] == ["mmsi:273000666"]


# ------------------------------------------------------------------------------------ matching
def index() -> WatchlistIndex:
    ofac, _ = read_ofac_sdn(OFAC)
    return WatchlistIndex([*ofac, entry("ONLY MMSI", mmsi=273000777)])


@pytest.mark.unit
def test_imo_match_survives_a_new_mmsi_and_name() -> None:
    found = index().match(636099999, True, 9179842, "TOTALLY DIFFERENT")
    assert found is not None and (found.entry.name, found.by, found.strong) == ("ANGARA", "imo", True)
    found = index().match(636099999, False, 9179842, None)  # an invalid MMSI does not hide the IMO
    assert found is not None and found.by == "imo"
    assert index().match(636099999, True, 9179843, "ANGARA").by == "name"  # type: ignore[union-attr]


@pytest.mark.unit
def test_mmsi_match_and_invalid_mmsi() -> None:
    found = index().match(273382620, True, None, None)
    assert found is not None and (found.entry.name, found.by, found.strong) == ("LADY RANIA", "mmsi", True)
    assert index().match(273000777, True, None, "WHATEVER").entry.name == "ONLY MMSI"  # type: ignore[union-attr]
    assert index().match(273382620, False, None, None) is None  # the pipeline flagged the MMSI
    assert index().match(111111111, True, None, None) is None
    # The MMSI is listed, but the ship sends another hull's valid IMO: the MMSI may have been reassigned.
    found = index().match(273382620, True, 9179854, None)
    assert found is not None and found.entry.name == "ADLER" and found.by == "imo"
    found = index().match(273382620, True, 9074729, None)  # a valid IMO not on the list
    assert found is not None and (found.by, found.strong) == ("mmsi", False)


@pytest.mark.unit
def test_a_name_only_match_is_weak_and_two_marias_are_two_candidates() -> None:
    idx = index()
    found = idx.match(273000001, True, None, "Maria")
    assert found is not None and (found.by, found.strong) == ("name", False)
    assert found.entry.imo == 8517839  # the ship named MARIA before MARIA E a.k.a. MARIA
    assert [e.name for e in idx.candidates("MARIA")] == ["MARIA", "MARIA E"]
    assert [e.name for e in idx.candidates("maia 1")] == ["MAIA-1"]
    assert idx.candidates("NOBODY") == [] and idx.match(273000001, True, None, None) is None


# ------------------------------------------------------------------------------------ commands
def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ais-watch")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["watchlist", *argv])


async def command(db_url: str, *argv: str) -> str:
    out = io.StringIO()
    settings = load_settings(environ={}).with_overrides(db=db_url)
    assert await run(parse(*argv), settings, out) == 0
    return out.getvalue()


@pytest.mark.integration
async def test_commands(db_url: str, tmp_path: Path) -> None:
    text = await command(db_url, "import", str(OFAC))
    assert text.splitlines() == ["read 22, imported 16, updated 0, skipped 6", "  skipped 6: not a vessel"]
    text = await command(db_url, "import", str(OFAC), "--format", "ofac-sdn")
    assert text.startswith("read 22, imported 0, updated 16, skipped 6\n")

    bad = write(tmp_path, "mine.csv", CSV_TEXT)
    text = await command(db_url, "import", str(bad), "--format", "csv")
    assert text.startswith("read 10, imported 2, updated 3, skipped 5\n")
    assert "  line 7: IMO 1234568 fails its check digit\n" in text
    assert "  skipped 1: bad IMO\n" in text

    lines = (await command(db_url, "list")).splitlines()
    items = [json.loads(line) for line in lines]
    assert len(items) == 18
    assert list(items[0]) == ["key", "name", "imo", "mmsi", "flag", "reason", "source", "aliases", "tags",
                              "dark_threshold_hours", "association", "expires_at"]  # the last two: issue 14
    assert items[0]["association"] is None and items[0]["expires_at"] is None
    rania = next(i for i in items if i["key"] == "imo:9784893")
    assert (rania["mmsi"], rania["dark_threshold_hours"], rania["name"]) == (273382620, 12.0, "Lady Rania")
    assert rania["aliases"] == [] and "ofac" in rania["tags"]
    table = await command(db_url, "list", "--format", "table")
    assert table.splitlines()[0].split() == ["key", "name", "imo", "mmsi", "flag", "tags", "source"]
    assert len(table.splitlines()) == 19

    assert await command(db_url, "remove", "IMO:9179842") == "removed imo:9179842\n"
    with pytest.raises(AisWatchError, match="no watchlist entry with key imo:9179842"):
        await command(db_url, "remove", "imo:9179842")
    with pytest.raises(AisWatchError, match="no such file"):
        await command(db_url, "import", str(tmp_path / "nope.csv"))
    with pytest.raises(AisWatchError, match="not a watchlist CSV"):
        await command(db_url, "import", str(OFAC), "--format", "csv")
    with pytest.raises(SystemExit):
        parse("import", str(OFAC), "--format", "xml")
