"""Every route of ours refuses requests without credentials (and POSTs without XSRF)."""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.server.routes import API_PREFIX, all_routes

SAMPLE = "0123456789abcdef0123456789abcdef"


def concrete(path: str) -> str:
    """A route pattern with each capture group filled by a plausible id."""
    return path.replace("([^/]+)", SAMPLE)


def test_every_handler_verb_is_authenticated() -> None:
    # Tornado's @authenticated wraps the verb; jupyter-server marks the wrapper it checks.
    for _path, handler in all_routes():
        verbs = [v for v in ("get", "post", "put", "delete", "patch") if v in vars(handler)]
        assert verbs, handler
        for verb in verbs:
            method = vars(handler)[verb]
            assert getattr(method, "__wrapped__", None) is not None, (handler, verb)
            assert not getattr(method, "__allow_unauthenticated", False), (handler, verb)


@pytest.mark.parametrize(("path", "handler"), all_routes(), ids=[p for p, _ in all_routes()])
async def test_route_refuses_unauthenticated(
    jp_fetch, jp_serverapp, http_server_client, jp_base_url, path, handler
) -> None:
    url = jp_base_url + API_PREFIX + "/" + concrete(path)
    verbs = [v for v in ("get", "post") if v in vars(handler)]
    for verb in verbs:
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(
                url,
                method=verb.upper(),
                body="{}" if verb == "post" else None,
                follow_redirects=False,
            )
        assert info.value.code in (401, 403), (path, verb, info.value.code)
        assert b"champion" not in (info.value.response.body or b"")


async def test_routes_answer_when_authenticated(jp_fetch) -> None:
    # The counterpart: the same requests with the token get past authentication.
    response = await jp_fetch(API_PREFIX, "experiments")
    assert response.code == 200


async def test_post_with_cookie_but_without_xsrf_is_refused(
    jp_fetch, jp_serverapp, http_server_client, jp_base_url
) -> None:
    # Token in the query (like a browser session without the XSRF header) is not enough
    # for a cookie-authenticated POST; jupyter-server checks XSRF on non-token requests.
    login = await http_server_client.fetch(
        jp_base_url + "login?token=" + jp_serverapp.identity_provider.token,
        follow_redirects=False,
        raise_error=False,
    )
    cookies = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie"))
    # the cookie is a valid login: a GET with it succeeds
    ok = await http_server_client.fetch(
        jp_base_url + API_PREFIX + "/experiments", headers={"Cookie": cookies}
    )
    assert ok.code == 200
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch(
            jp_base_url + API_PREFIX + "/model/promote",
            method="POST",
            body='{"name": "sentiment-model", "version": "2"}',
            headers={"Cookie": cookies},
        )
    assert info.value.code == 403
