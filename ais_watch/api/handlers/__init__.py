"""The API's request handlers, one module per resource. Routes, roles and OpenAPI text for them are
declared in ais_watch/api/routes.py only."""
