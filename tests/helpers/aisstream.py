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
