"""What every agency plugin needs around httpx: one client, one error boundary, a cached health probe.

Agencies differ in how they refuse (an envelope, a status text, a SNAP code) and plugins read that
themselves; they do not differ in what a timeout, a refused connection or a 5xx means for the caller.
An HTTP plugin's connector subclasses :class:`HttpConnector`, its settings :class:`HttpAgencySettings`,
and writes only its agency's requests, refusals and health probe.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from http.cookiejar import Cookie, CookieJar
from typing import Any, ClassVar, Generic, Self, TypeVar

import httpx
import structlog
from pydantic import Field

from contracts import AgencyHealth, ErrorCode, HealthStatus, HubError
from hub._agency import AgencySettings
from hub._time import utcnow
from hub._transport import agency_transport

__all__ = ["AgencyHttp", "HealthProbe", "HttpAgencySettings", "HttpConnector"]


_log = structlog.get_logger("hub.agency")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


class _KeepNoCookie(CookieJar):
    def set_cookie(self, cookie: Cookie) -> None:
        pass  # a cookie handed to the jar by any route (an answer, a merge, a copy) is dropped


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing and sends nothing.

    Agencies authenticate with headers (API keys, signatures, bearer tokens), and one link serves every
    citizen: a cookie an agency sets on one answer must never ride along on the next call, someone else's.
    Not keeping cookies is also cheaper: httpx's jar read every answer through http.cookiejar.
    """

    def __init__(self) -> None:
        super().__init__(_KeepNoCookie())

    def extract_cookies(self, response: httpx.Response) -> None:
        pass

    def set_cookie_header(self, request: httpx.Request) -> None:
        pass


class _AgencyClient(httpx.AsyncClient):
    """httpx's client without what an agency link never uses: a cookie jar, and a second parse per URL.

    A plugin still gets httpx's ``build_request``/``send`` and :class:`httpx.Response`.
    """

    def __init__(self, *, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None) -> None:
        super().__init__(base_url=base_url, timeout=timeout, transport=transport)
        self._cookies = _NoCookies()
        base = self.base_url
        plain = base.is_absolute_url and base.query == b"" and not base.fragment
        # httpx ends the base's path with '/', but a bare origin's text has no path at all.
        self._base_text = str(base).removesuffix("/") + "/" if plain else ""

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("An agency link keeps no cookies: send credentials as headers")

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Request:
        return super().build_request(method, self._joined(url), **kwargs)

    def _joined(self, url: httpx.URL | str) -> httpx.URL | str:
        """``url`` under the base URL, parsed once.

        httpx parses a relative path, then the merged URL again, each call; the base never changes, so a
        plain path is appended to its text and parsed once (the same URL, half the time). An absolute URL,
        a fragment, a '//host' reference, anything with a ':' are left to httpx's own merging.
        """
        if not self._base_text or not isinstance(url, str) or ":" in url or "#" in url or url.startswith("//"):
            return url
        return httpx.URL(self._base_text + url.lstrip("/"))


class AgencyHttp:
    """An agency's HTTP link.

    Timeouts, refused connections, 5xx and 429 answers become ``agency_timeout`` / ``agency_unavailable``
    here; every other answer is returned for the plugin to read in the agency's own terms.
    """

    def __init__(
        self,
        *,
        agency: str,
        name: str,
        base_url: str,
        timeout: float,
        correlation_header: str | None = "X-Correlation-ID",
    ) -> None:
        self.agency = agency
        self.correlation_header = correlation_header
        self.name = name
        self.base_url = base_url
        self.timeout = timeout
        self._client = _AgencyClient(base_url=base_url, timeout=timeout, transport=agency_transport())

    def build_request(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        return self._client.build_request(method, url, **kwargs)

    async def request(self, method: str, url: str, *, budget: float | None = None, **kwargs: Any) -> httpx.Response:
        return await self.send(self.build_request(method, url, **kwargs), budget=budget)

    async def send(self, request: httpx.Request, *, budget: float | None = None) -> httpx.Response:
        """Send ``request`` within ``budget`` seconds (the caller's remaining time) and the agency timeout.

        The request carries the caller's correlation id (``correlation_header``), so the agency's own logs
        can be matched with the hub's.
        """
        if budget is not None and budget <= 0:
            raise HubError.of(
                ErrorCode.AGENCY_TIMEOUT, f"No time was left to call {self.name} for this request", agency=self.agency
            )
        timeout = self.timeout if budget is None else min(self.timeout, budget)
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        correlation_id = structlog.contextvars.get_contextvars().get("correlation_id")
        if correlation_id and self.correlation_header and self.correlation_header not in request.headers:
            request.headers[self.correlation_header] = str(correlation_id)
        started = time.perf_counter()
        try:
            response = await self._client.send(request)
        except httpx.TimeoutException:
            _log.info("agency call timed out", path=request.url.path, ms=_ms(started))
            raise HubError.of(
                ErrorCode.AGENCY_TIMEOUT, f"{self.name} did not answer within {timeout:g}s", agency=self.agency
            ) from None
        except httpx.TransportError as exc:
            _log.info("agency unreachable", path=request.url.path, error=type(exc).__name__)
            raise HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"Cannot reach {self.name} at {self.base_url} ({type(exc).__name__})",
                agency=self.agency,
            ) from None
        # Debug, not info: the bus logs every answered call already (with its latency), and a second rendered
        # line per call was a measurable share of the hub's CPU under load (see docs/performance.md).
        _log.debug(
            "agency call", method=request.method, path=request.url.path, status=response.status_code, ms=_ms(started)
        )
        if response.status_code >= 500 or response.status_code == 429:
            busy = "is rate-limiting the hub" if response.status_code == 429 else "is failing"
            raise HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"{self.name} {busy} (HTTP {response.status_code}); try again later",
                agency=self.agency,
                retry_after=_retry_after(response),
            )
        return response

    def json(self, response: httpx.Response) -> Any:
        """The answer's JSON (big integers kept exact), or ``agency_error`` when it is not JSON."""
        try:
            return response.json()
        except ValueError:
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"{self.name} answered with something that is not JSON (HTTP {response.status_code})",
                agency=self.agency,
            ) from None

    async def aclose(self) -> None:
        await self._client.aclose()


class HealthProbe:
    """A health check run at most once per ``ttl`` seconds.

    ``probe`` proves the link without reading anyone's data and returns what it proved, or raises
    :class:`HubError`, whose message becomes the reason the link is down.
    """

    def __init__(self, agency: str, probe: Callable[[], Awaitable[str]], *, ttl: float) -> None:
        self._agency = agency
        self._probe = probe
        self._ttl = ttl
        self._last: tuple[float, AgencyHealth] | None = None

    async def __call__(self) -> AgencyHealth:
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self._ttl:
            return self._last[1]
        started = time.perf_counter()
        try:
            status, detail = HealthStatus.UP, await self._probe()
        except HubError as exc:
            status, detail = HealthStatus.DOWN, exc.error.message
        health = AgencyHealth(
            agency=self._agency,
            status=status,
            detail=detail,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            checked_at=utcnow(),
        )
        self._last = (now, health)
        return health


class HttpAgencySettings(AgencySettings):
    """The settings every HTTP agency has: where it is, how long a call may take, how long health is reused.

    A plugin adds its own fields (credentials as ``SecretStr``) and may redeclare these to describe its
    agency's URL or to change a default.
    """

    base_url: str = Field(description="The agency's API root, e.g. https://api.example.go.id.")
    timeout: float = Field(default=5.0, gt=0, description="Seconds per agency call.")
    health_ttl: float = Field(default=15.0, ge=0, description="Seconds a health result is reused.")


HttpSettingsT = TypeVar("HttpSettingsT", bound=HttpAgencySettings)


class HttpConnector(ABC, Generic[HttpSettingsT]):
    """Base of an HTTP agency's connector: its :class:`AgencyHttp` link, its cached health, its closing.

    A subclass names its agency (``agency``, the plugin's code, and ``agency_name``, as messages say it),
    implements :meth:`_probe`, and sends its requests through ``self._http``::

        class LandOfficeClient(HttpConnector[LandOfficeSettings]):
            agency, agency_name = "landoffice", "BPN land office"

            async def _probe(self) -> str:
                await self._http.request("GET", "/status")
                return "reachable"
    """

    agency: ClassVar[str]
    agency_name: ClassVar[str]
    #: The request header that carries the caller's correlation id; None for an agency that refuses extras.
    correlation_header: ClassVar[str | None] = "X-Correlation-ID"

    def __init__(self, settings: HttpSettingsT) -> None:
        self.settings = settings
        self._http = AgencyHttp(
            agency=self.agency,
            name=self.agency_name,
            base_url=settings.base_url,
            timeout=settings.timeout,
            correlation_header=self.correlation_header,
        )
        self._health = HealthProbe(self.agency, self._probe, ttl=settings.health_ttl)

    @classmethod
    async def connect(cls, settings: HttpSettingsT) -> Self:
        """The hook's ``connect``: a connector for ``settings`` (no call is made until one is needed)."""
        return cls(settings)

    async def health(self) -> AgencyHealth:
        """The agency's health, probed at most once per ``health_ttl`` seconds."""
        return await self._health()

    async def aclose(self) -> None:
        """Close the agency link (the hub calls it once, at shutdown)."""
        await self._http.aclose()

    @abstractmethod
    async def _probe(self) -> str:
        """Prove the link and the credentials without reading anyone's data; return what was proved.

        Raise :class:`HubError` when the link is down: its message becomes the reason health reports.
        """
