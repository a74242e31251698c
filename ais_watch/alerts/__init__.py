"""Alerts: drafts from detectors become stored alerts with pending deliveries (one transaction), which a
dispatcher delivers to the notifiers with retries (the transactional outbox)."""
