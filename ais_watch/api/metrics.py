"""Prometheus /metrics: read from the counters the service keeps anyway (IngestStats, AlertStats, the
store writer, the reception step), at scrape time, so the hot path pays nothing for being measured."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ais_watch.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        stats = self.runtime.stats
        pipeline = self.runtime.pipeline
        for name, value, help_text in (
            ("lines", stats.lines, "Input lines read from every source."),
            ("messages", stats.messages, "Whole AIS messages (multi-part reassembled)."),
            ("decoded", stats.decoded, "Messages that became a position or static report."),
            ("duplicates", stats.duplicates, "Reports dropped as the same transmission heard again."),
            ("positions_written", stats.positions_stored, "Positions committed to the store."),
        ):
            yield CounterMetricFamily(f"ais_watch_{name}", help_text, value=value)
        rejected = CounterMetricFamily("ais_watch_rejected", "Lines or messages not used, by reason.",
                                       labels=["reason"])
        for reason, count in sorted(stats.rejects.items()):
            rejected.add_metric([reason], count)
        yield rejected
        alert_stats = self.runtime.alerts.stats
        raised = CounterMetricFamily("ais_watch_alerts_raised", "Alerts stored, by kind.", labels=["kind"])
        for kind, count in sorted(alert_stats.raised.items()):
            raised.add_metric([kind], count)
        yield raised
        deliveries = CounterMetricFamily("ais_watch_deliveries", "Delivery attempts by outcome.",
                                         labels=["outcome"])
        for outcome, count in sorted(alert_stats.deliveries.items()):
            deliveries.add_metric([outcome], count)
        yield deliveries
        yield GaugeMetricFamily("ais_watch_store_queue_batches", "Batches waiting for the database.",
                                value=pipeline.writer.queue_depth)
        yield GaugeMetricFamily("ais_watch_vessels", "Vessels known to the pipeline.",
                                value=len(pipeline.vessels))
        leadership = self.runtime.leadership
        if leadership is not None:
            yield GaugeMetricFamily(
                "ais_watch_leader", "1 while this instance is the leader (scheduled rules, maintenance, "
                "deliveries), else 0.", value=int(leadership.is_leader))
        yield from self._reception()
        latest = pipeline.latest_event
        # On the pipeline's clock: the wall clock live, the demo clock in the demo (ahead of the wall).
        lag = (self.runtime.clock.now() - latest).total_seconds() if latest is not None else float("nan")
        yield GaugeMetricFamily("ais_watch_pipeline_lag_seconds",
                                "The pipeline clock's now (live: wall time) less the newest event time "
                                "processed.", value=lag)

    def _reception(self) -> Iterator[Metric]:
        """Stations and areas judged and in outage, by source: an operator alerts on reception too. Every
        source heard has its 0, so a rule on `> 0` tells "none down" from "not measured"."""
        reception = self.runtime.reception
        if reception is None:
            return
        snapshot = reception.snapshot()
        for kind, what in (("stations", "receiving stations"), ("areas", "grid-cell areas")):
            known: dict[str, int] = {}
            down: dict[str, int] = {}
            for item in snapshot[kind]:
                known[item["source"]] = known.get(item["source"], 0) + 1
                down[item["source"]] = down.get(item["source"], 0) + (item["state"] == "outage")
            judged = GaugeMetricFamily(f"ais_watch_reception_{kind}",
                                       f"The {what} the reception step judges, by source.", labels=["source"])
            outage = GaugeMetricFamily(f"ais_watch_reception_{kind}_in_outage",
                                       f"The {what} in outage (a reception loss), by source.",
                                       labels=["source"])
            for source in sorted(known):
                judged.add_metric([source], known[source])
                outage.add_metric([source], down[source])
            yield judged
            yield outage


def metrics_text(runtime: Runtime) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime))
    return generate_latest(registry)
