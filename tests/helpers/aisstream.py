"""aisstream.io messages as its websocket sends them (the field names, padding and time format of real
captures)."""

from __future__ import annotations

from typing import Any


def position_report(mmsi: int = 273355410, *, time_utc: str = "2023-05-10 11:46:52.509865357 +0000 UTC",
                    lat: float = 43.10215, lon: float = 131.87993, sog: float = 11.3, cog: float = 204.6,
                    heading: int = 203, name: str = "VOSTOK 7", **extra: Any) -> dict[str, Any]:
    """A PositionReport (type 1); `extra` replaces or adds fields of the message body."""
    body = {
        "Cog": cog, "CommunicationState": 59916, "Latitude": lat, "Longitude": lon, "MessageID": 1,
        "NavigationalStatus": 0, "PositionAccuracy": True, "Raim": False, "RateOfTurn": -2,
        "RepeatIndicator": 0, "Sog": sog, "Spare": 0, "SpecialManoeuvreIndicator": 0, "Timestamp": 52,
        "TrueHeading": heading, "UserID": mmsi, "Valid": True,
    }
    body.update(extra)
    return {
        "Message": {"PositionReport": body},
        "MessageType": "PositionReport",
        "MetaData": {"MMSI": mmsi, "MMSI_String": mmsi, "ShipName": name.ljust(20),
                     "latitude": lat, "longitude": lon, "time_utc": time_utc},
    }


def ship_static_data(name: str = "SEA STAR@@@@@@@@@@@@", imo: int = 9179842, mmsi: int = 352001234, *,
                     time_utc: str = "2023-05-10 11:47:01.000123999 +0000 UTC") -> dict[str, Any]:
    """A ShipStaticData (type 5)."""
    return {
        "Message": {"ShipStaticData": {
            "AisVersion": 2, "CallSign": "3FXY5  ", "Destination": "NAMPO@@@@@@@@@@@@@@@",
            "Dimension": {"A": 150, "B": 40, "C": 16, "D": 16}, "Dte": False,
            "Eta": {"Day": 12, "Hour": 6, "Minute": 0, "Month": 5}, "FixType": 1, "ImoNumber": imo,
            "MaximumStaticDraught": 9.8, "MessageID": 5, "Name": name, "RepeatIndicator": 0,
            "Spare": False, "Type": 70, "UserID": mmsi, "Valid": True}},
        "MessageType": "ShipStaticData",
        "MetaData": {"MMSI": mmsi, "MMSI_String": mmsi, "ShipName": name,
                     "latitude": 38.72, "longitude": 125.38, "time_utc": time_utc},
    }


def class_b_report() -> dict[str, Any]:
    return {
        "Message": {"StandardClassBPositionReport": {
            "AssignedMode": False, "ClassBBand": True, "ClassBDisplay": False, "ClassBDsc": True,
            "ClassBMsg22": True, "ClassBUnit": True, "Cog": 88.4, "CommunicationState": 393222,
            "CommunicationStateIsItdma": True, "Latitude": 35.08933, "Longitude": 129.04512, "MessageID": 18,
            "PositionAccuracy": False, "Raim": True, "RepeatIndicator": 0, "Sog": 6.1, "Spare1": 0,
            "Spare2": 0, "Timestamp": 9, "TrueHeading": 511, "UserID": 440123450, "Valid": True}},
        "MessageType": "StandardClassBPositionReport",
        "MetaData": {"MMSI": 440123450, "MMSI_String": 440123450, "ShipName": "HAENAM 3            ",
                     "latitude": 35.08933, "longitude": 129.04512,
                     "time_utc": "2024-02-01 03:04:05.000000001 +0000 UTC"},
    }


def extended_class_b_report() -> dict[str, Any]:
    return {
        "Message": {"ExtendedClassBPositionReport": {
            "AssignedMode": False, "Cog": 312.0, "Dimension": {"A": 12, "B": 8, "C": 3, "D": 2},
            "Dte": False, "FixType": 1, "Latitude": 42.80117, "Longitude": 132.88761, "MessageID": 19,
            "Name": "SOKOL@@@@@@@@@@@@@@@", "PositionAccuracy": True, "Raim": False, "RepeatIndicator": 0,
            "Sog": 8.0, "Spare1": 0, "Spare2": 0, "Spare3": 0, "Timestamp": 30, "TrueHeading": 310,
            "Type": 30, "UserID": 273111222, "Valid": True}},
        "MessageType": "ExtendedClassBPositionReport",
        "MetaData": {"MMSI": 273111222, "MMSI_String": 273111222, "ShipName": "SOKOL",
                     "latitude": 42.80117, "longitude": 132.88761,
                     "time_utc": "2024-02-01 03:04:06 +0000 UTC"},
    }


def long_range_report(sog: float = 12, cog: float = 97) -> dict[str, Any]:
    return {
        "Message": {"LongRangeAisBroadcastMessage": {
            "Cog": cog, "Latitude": 38.9, "Longitude": 125.21667, "MessageID": 27, "NavigationalStatus": 0,
            "PositionAccuracy": False, "PositionLatency": False, "Raim": False, "RepeatIndicator": 3,
            "Sog": sog, "Spare": False, "UserID": 445999001, "Valid": True}},
        "MessageType": "LongRangeAisBroadcastMessage",
        "MetaData": {"MMSI": 445999001, "MMSI_String": 445999001, "ShipName": "",
                     "latitude": 38.9, "longitude": 125.21667,
                     "time_utc": "2024-02-01T03:04:07.250Z"},
    }


def static_data_report(part_number: bool | int) -> dict[str, Any]:
    return {
        "Message": {"StaticDataReport": {
            "MessageID": 24, "PartNumber": part_number,
            "ReportA": {"Name": "MIRAE 2@@@@@@@@@@@@@" if not part_number else "", "Valid": not part_number},
            "ReportB": {"CallSign": "DSQR7@@" if part_number else "",
                        "Dimension": {"A": 9, "B": 6, "C": 2, "D": 3} if part_number
                        else {"A": 0, "B": 0, "C": 0, "D": 0},
                        "FixType": 0, "ShipType": 37 if part_number else 0, "Spare": 0,
                        "Valid": bool(part_number), "VenderIDModel": 0, "VenderIDSerial": 0,
                        "VendorIDName": ""},
            "RepeatIndicator": 0, "Reserved": 0, "UserID": 440555666, "Valid": True}},
        "MessageType": "StaticDataReport",
        "MetaData": {"MMSI": 440555666, "MMSI_String": 440555666, "ShipName": "MIRAE 2",
                     "latitude": 34.9, "longitude": 128.6,
                     "time_utc": "2024-02-01 03:04:08.5 +0000 UTC"},
    }
