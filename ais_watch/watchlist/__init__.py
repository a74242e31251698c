"""The watchlist: ships to watch, read from lists, stored, and matched against the vessels seen.

Its modules, each using only those listed before it:
- entries: an entry, its key and names, merging two entries of one ship, its JSON form.
- index: matching vessels against the entries, in memory.
- importers: reading the watchlist CSV, OFAC's SDN.CSV and OpenSanctions files.
- store: the database table (upsert, list, remove, load the index, seed the bundled list).
- commands: `ais-watch watchlist import|list|remove`.
"""
