"""Prometheus metrics of one service, every name prefixed ``mfa_``.

Each :class:`~mfa.service.MFAService` owns a registry (not prometheus-client's
global one), so two apps in one process — tests, a host mounting two — count
apart. ``GET /metrics`` serves it (:mod:`mfa.http.observe`), guarded by
``MFA_METRICS_TOKEN`` when set.

Metrics:

- ``mfa_http_requests_total{route, method, status, error_code}`` — route is the
  path template (``/api/tenants/{tenant_id}``), never the raw path, so labels
  stay few; ``error_code`` is the catalogue code of an error answer, else "".
- ``mfa_http_request_duration_seconds{route, method}`` — latency histogram.
- ``mfa_deliveries_total{channel, transport, outcome}`` — every SMS or push
  handed to a transport: ``outcome`` is ``sent`` or the catalogue code it failed
  with; ``transport`` the configured name, or ``sandbox``.
- ``mfa_quota_refusals_total{code}`` — ``too_many_sms``, ``too_many_pn``, …
- ``mfa_backend_errors_total{route}`` — requests answered
  ``service_unavailable`` because Redis or the database failed or timed out.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from mfa.delivery import PushMessage, PushTransport, SmsMessage, SmsTransport
from mfa.errors import MFAError

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: a verify-otp takes a few ms, an SMS send up to the provider's timeout.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http = HttpRequests()
        r.register(self.http)
        self.deliveries = Counter(
            "mfa_deliveries",
            "SMS and push messages handed to a transport, by outcome.",
            ("channel", "transport", "outcome"),
            registry=r,
        )
        self.quota_refusals = Counter(
            "mfa_quota_refusals",
            "Sends refused by a quota, by the code answered.",
            ("code",),
            registry=r,
        )
        self.backend_errors = Counter(
            "mfa_backend_errors",
            "Requests answered service_unavailable: Redis or the database failed.",
            ("route",),
            registry=r,
        )

    def observe_request(
        self, route: str, method: str, status: int, error_code: str, seconds: float
    ) -> None:
        self.http.observe(route, method, status, error_code, seconds)
        if error_code.startswith("too_many_"):
            self.quota_refusals.labels(error_code).inc()
        elif error_code == "service_unavailable":
            self.backend_errors.labels(route).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class HttpRequests(Collector):
    """``mfa_http_requests_total`` and ``mfa_http_request_duration_seconds``, counted
    in plain dicts and lists and turned into metric families only when scraped.

    Every request is counted, so this is on the hot path: prometheus-client's
    ``Counter`` and ``Histogram`` take a lock for each increment (three per request)
    and their ``labels()`` validates on each call. The counts here are only ever
    touched from the event loop's thread (an ASGI app runs on its loop), so plain
    increments are safe; the key space is bounded (route templates, methods,
    statuses and catalogue codes)."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int, str], int] = {}
        # (route, method) → [count per bucket (not cumulative), the +Inf one last], sum
        self._latency: dict[tuple[str, str], tuple[list[int], list[float]]] = {}

    def observe(
        self, route: str, method: str, status: int, error_code: str, seconds: float
    ) -> None:
        key = (route, method, status, error_code)
        self._requests[key] = self._requests.get(key, 0) + 1
        latency = self._latency.get((route, method))
        if latency is None:
            latency = self._latency[(route, method)] = ([0] * (len(_BUCKETS) + 1), [0.0])
        # Bucket ``le`` holds what took at most ``le`` seconds: the first bound >= it.
        latency[0][bisect_left(_BUCKETS, seconds)] += 1
        latency[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "mfa_http_requests",
            "HTTP requests answered, by route template, method, status and error code.",
            labels=("route", "method", "status", "error_code"),
        )
        for (route, method, status, code), count in list(self._requests.items()):
            requests.add_metric((route, method, str(status), code), count)
        yield requests
        latency = HistogramMetricFamily(
            "mfa_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            labels=("route", "method"),
        )
        bounds = [*map(floatToGoString, _BUCKETS), "+Inf"]
        for (route, method), (counts, total) in list(self._latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            latency.add_metric((route, method), buckets, total[0])
        yield latency


class MeteredSms:
    """An :class:`~mfa.delivery.SmsTransport` that counts what it hands on."""

    def __init__(self, inner: SmsTransport, name: str, metrics: Metrics) -> None:
        self._inner, self._name, self._metrics = inner, name, metrics

    async def send(self, message: SmsMessage) -> None:
        try:
            await self._inner.send(message)
        except MFAError as exc:
            self._metrics.deliveries.labels("sms", self._name, exc.code).inc()
            raise
        self._metrics.deliveries.labels("sms", self._name, "sent").inc()

    async def aclose(self) -> None:
        await self._inner.aclose()


class MeteredPush:
    """A :class:`~mfa.delivery.PushTransport` that counts what it hands on."""

    def __init__(self, inner: PushTransport, name: str, metrics: Metrics) -> None:
        self._inner, self._name, self._metrics = inner, name, metrics

    async def send(self, message: PushMessage) -> None:
        try:
            await self._inner.send(message)
        except MFAError as exc:
            self._metrics.deliveries.labels("push", self._name, exc.code).inc()
            raise
        self._metrics.deliveries.labels("push", self._name, "sent").inc()

    async def aclose(self) -> None:
        await self._inner.aclose()
