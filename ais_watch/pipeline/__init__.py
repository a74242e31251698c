"""The pipeline: the runner (`runner.py`), the stage protocol and what stages may ask of it (`stage.py`),
and the ingest steps every report takes before detection (`dedup.py`, `ingest.py`, `vessel_state.py`).
The whole list of steps, in order, is `ais_watch/steps.py`."""
