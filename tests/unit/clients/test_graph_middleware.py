"""Graph requests pass only the middleware whose work they need (shared/clients/graph.py,
``graph_middleware``): ``$`` decoded in the query, kiota's User-Agent, Graph's telemetry headers;
no retry (shared.core.retry retries), no redirect, no ``/me`` replacement, no inspection handlers.
Each left-out handler was a frame every request, and every resumption of it, passed through."""

from __future__ import annotations

from typing import Any

import httpx

FILTER_URL = "https://graph.microsoft.com/v1.0/servicePrincipals?%24filter=appId%20eq%20%27a-1%27&%24select=id,appId"


def _chain(client: Any) -> list[str]:
    ware = client._transport.pipeline._first_middleware
    names = []
    while ware is not None:
        names.append(type(ware).__name__)
        ware = ware.next
    return names


async def test_the_graph_pool_keeps_only_the_middleware_these_calls_need() -> None:
    from shared.clients.graph import graph_http_client

    client = graph_http_client(connections=2)
    try:
        assert _chain(client) == ["ParametersNameDecodingHandler", "UserAgentHandler", "GraphTelemetryHandler"]
    finally:
        await client.aclose()


def _client_answering(answers: list[httpx.Response], seen: list[httpx.Request], *, default: bool = False) -> Any:
    """A Graph client over a mock transport: the trimmed chain, or msgraph's default (retry off)."""
    from kiota_http.middleware.options import RetryHandlerOption
    from msgraph_core import GraphClientFactory

    from shared.clients.graph import graph_middleware

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    inner = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    if default:
        options = {RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False)}
        return GraphClientFactory.create_with_default_middleware(client=inner, options=options)
    return GraphClientFactory.create_with_custom_middleware(graph_middleware(), client=inner)


class _Credential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("t0ken", 2_000_000_000)

    async def close(self) -> None:
        return None


async def _sent(base: str, *, default: bool) -> list[tuple[str, str, dict[str, str], bytes]]:
    """What leaves for one presence check and one page of audit records, through msgraph-sdk."""
    from types import SimpleNamespace

    from shared.clients.graph import Graph, build_graph_client

    seen: list[httpx.Request] = []
    http = _client_answering([httpx.Response(200, json={"value": []}) for _ in range(2)], seen, default=default)
    settings = SimpleNamespace(graph_base_url=base, graph_scope="https://graph.microsoft.com/.default")
    graph = Graph(build_graph_client(settings, _Credential(), http))  # type: ignore[arg-type]
    async with http:
        assert await graph.service_principals_by_app_id("5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01") == []
        assert await graph.service_principals_by_app_id("6c1d8f5f-3a2e-4d2b-8b62-8e3a4c9d0f12") == []
    sent = []
    for request in seen:
        headers = dict(request.headers.items())
        headers["client-request-id"] = str(len(headers.get("client-request-id", "")))  # a new GUID each time
        sent.append((request.method, str(request.url), headers, request.content))
    return sent


async def test_a_graph_request_leaves_as_msgraphs_default_chain_sends_it() -> None:
    for base in ("https://graph.microsoft.com/v1.0", "https://127.0.0.1:8443/v1.0"):  # Graph, the simulator
        trimmed, default = await _sent(base, default=False), await _sent(base, default=True)
        assert trimmed == default
        assert "$filter=appId" in trimmed[0][1]
        assert "kiota-python/" in trimmed[0][2]["user-agent"]
        assert trimmed[0][2]["authorization"] == "Bearer t0ken"
    to_graph = (await _sent("https://graph.microsoft.com/v1.0", default=False))[0][2]
    assert "graph-python-core/" in to_graph["sdkversion"]
    assert to_graph["client-request-id"] == "36"


async def test_a_redirect_or_a_429_comes_back_as_answered() -> None:
    """Neither is acted on in the chain: a 3xx (Graph sends none on these calls) is the caller's
    error, a 429 goes to shared.core.retry's policy (Retry-After honoured there, on the clock)."""
    seen: list[httpx.Request] = []
    answers = [
        httpx.Response(302, headers={"location": "https://elsewhere.example/x"}),
        httpx.Response(429, headers={"retry-after": "1"}),
    ]
    client = _client_answering(answers, seen)
    async with client:
        assert (await client.get(FILTER_URL)).status_code == 302
        assert (await client.get(FILTER_URL)).status_code == 429
    assert [str(r.url.host) for r in seen] == ["graph.microsoft.com", "graph.microsoft.com"]
