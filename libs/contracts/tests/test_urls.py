"""render_url: an event value can never choose the scheme, host or path structure of a URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskfactory_contracts.expressions import (
    ExpressionError,
    check_url_template,
    render_http_params,
    render_url,
)

TEMPLATE = (
    "https://api.example.com/tenants/{{ event.data.a }}/items/{{ event.data.b }}"
    "?q={{ event.data.a }}&r={{ event.data.b }}#{{ event.data.a }}"
)


def _event(**data: Any) -> dict[str, Any]:
    return {"event": {"data": data}, "context": {"base": "https://bank.internal:8443/v1"}}


def test_a_hostile_tenant_cannot_pick_the_host() -> None:
    url = render_url(
        "http://{{ raw('api.example.com') }}/t/{{ event.data.tenant }}/x",
        _event(tenant="169.254.169.254/latest/meta-data/#"),
    )
    assert url == "http://api.example.com/t/169.254.169.254%2Flatest%2Fmeta-data%2F%23/x"
    assert urlsplit(url).hostname == "api.example.com"


def test_a_hostile_id_cannot_pick_the_path() -> None:
    url = render_url(
        "https://api.example.com/items/{{ event.data.id }}",
        _event(id="../../admin/delete?all=true#"),
    )
    parts = urlsplit(url)
    assert parts.path == "/items/..%2F..%2Fadmin%2Fdelete%3Fall%3Dtrue%23"
    assert parts.query == ""
    assert parts.fragment == ""


@pytest.mark.parametrize("value", [".", "..", "..."])
def test_a_dot_segment_value_is_refused(value: str) -> None:
    with pytest.raises(ExpressionError, match="cannot be a URL path value"):
        render_url("https://api.example.com/items/{{ event.data.id }}/x", _event(id=value))


def test_a_trusted_base_is_inserted_raw_and_the_rest_encoded() -> None:
    url = render_url("{{ raw(context.base) }}/items/{{ event.data.id }}", _event(id="a b/c"))
    assert url == "https://bank.internal:8443/v1/items/a%20b%2Fc"


def test_http_task_params_render_the_url_encoded_and_the_rest_as_usual() -> None:
    params = {
        "method": "POST",
        "url": "{{ raw(context.base) }}/items/{{ event.data.id }}",
        "json": {"id": "{{ event.data.id }}"},
    }
    rendered = render_http_params(params, _event(id="../x"))
    assert rendered == {
        "method": "POST",
        "url": "https://bank.internal:8443/v1/items/..%2Fx",
        "json": {"id": "../x"},
    }


def test_non_string_values_are_rendered_as_json_then_encoded() -> None:
    url = render_url("https://h.example/x?v={{ event.data.v }}", _event(v={"k": [1, 2]}))
    assert parse_qsl(urlsplit(url).query) == [("v", '{"k":[1,2]}')]


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.data.host }}/x",
        "https://{{ event.data.host }}/x",
        "https://{{ event.data.user }}@api.example.com/x",
        "https://api.example.com:{{ event.data.port }}/x",
        "{{ raw(context.base) }}{{ event.data.id }}",
        "//{{ event.data.host }}/x",
    ],
)
def test_a_templated_scheme_or_host_is_refused_unless_raw(template: str) -> None:
    with pytest.raises(ExpressionError, match="sits in the scheme or host"):
        check_url_template(template)
    with pytest.raises(ExpressionError, match="sits in the scheme or host"):
        render_url(template, _event(host="h", user="u", port=1, id="i"))


@pytest.mark.parametrize(
    "template",
    [
        "https://api.example.com/{{ event.data.id }}",
        "https://api.example.com?{{ event.data.id }}",
        "https://api.example.com#{{ event.data.id }}",
        "/relative/{{ event.data.id }}",
        "{{ raw(context.base) }}/{{ event.data.id }}",
        "https://{{ raw(context.host) }}/{{ event.data.id }}",
    ],
)
def test_values_after_the_host_are_accepted(template: str) -> None:
    check_url_template(template)


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


_HOSTILE_TEXT = st.one_of(
    st.text(st.characters(codec=None, categories=None), max_size=40),
    st.sampled_from(
        [
            "169.254.169.254/latest/meta-data/#",
            "../../admin/delete?all=true#",
            "%2F",
            "a&b=c",
            "\ud800",
            "a\udfffb",
            "https://evil.example/",
        ]
    ),
)
_HOSTILE = st.one_of(
    _HOSTILE_TEXT,
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(_HOSTILE_TEXT, max_size=3),
    st.just("x" * 200_000),
    st.just(2**63),
    st.integers(min_value=1, max_value=3000).map(_deep),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=_HOSTILE, b=_HOSTILE)
def test_render_url_never_changes_scheme_host_or_path_structure(a: Any, b: Any) -> None:
    try:
        url = render_url(TEMPLATE, _event(a=a, b=b))
    except ExpressionError:
        return
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "api.example.com")
    segments = parts.path.split("/")
    assert len(segments) == 5
    assert segments[:2] == ["", "tenants"]
    assert segments[3] == "items"
    assert [k for k, _ in parse_qsl(parts.query, keep_blank_values=True)] == ["q", "r"]
    if isinstance(a, str):
        assert unquote(segments[2]) == a
        assert unquote(parts.fragment) == a
        assert parse_qsl(parts.query, keep_blank_values=True)[0][1] == a
