"""The AsyncAPI document of the market topics: served beside the OpenAPI schema, whole, and strict."""

from __future__ import annotations

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from marketdata.tests.topic_client import CLIENT_MESSAGES, client_frame_valid
from marketdata.topics import frames
from marketdata.topics.asyncapi import asyncapi_document


def _refs(node, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


@pytest.mark.django_db
def test_the_document_is_served_to_desk_members_only(api_client, viewer):
    assert api_client.get("/api/v1/asyncapi.json").status_code in (401, 403)
    api_client.force_authenticate(viewer)
    response = api_client.get("/api/v1/asyncapi.json")
    assert response.status_code == 200
    assert response.json()["asyncapi"] == "3.0.0"
    assert response.json()["channels"]["market"]["address"] == "/ws/market/"


@pytest.mark.django_db
def test_the_api_docs_link_to_the_document(admin_client):
    schema = admin_client.get("/api/v1/schema/?format=json").json()
    assert "/api/v1/asyncapi.json" in schema["info"]["description"]


def test_every_reference_of_the_document_resolves():
    document = asyncapi_document()
    resolver = Registry().with_resource("urn:doc", Resource.from_contents(document, DRAFT7)).resolver("urn:doc")
    refs = _refs(document, [])
    assert refs
    for ref in refs:
        resolver.lookup(f"urn:doc{ref}")


def test_every_message_is_on_the_channel_and_in_an_operation():
    document = asyncapi_document()
    messages = set(document["components"]["messages"])
    assert set(document["channels"]["market"]["messages"]) == messages
    in_operations = {
        ref.rsplit("/", 1)[-1] for operation in document["operations"].values() for ref in _refs(operation, [])
    }
    assert messages <= in_operations


def test_every_payload_schema_is_a_valid_json_schema():
    for message in asyncapi_document()["components"]["messages"].values():
        Draft7Validator.check_schema(message["payload"])


def test_every_frame_type_and_error_code_of_the_server_is_in_the_document():
    document = asyncapi_document()
    names = {message["name"] for message in document["components"]["messages"].values()}
    server_types = {f"{kind}.response" for kind in frames.SUBSCRIBE_TYPES} | {
        "bars.update", "quotes.update", "heartbeat", "pong", "error",
    }  # fmt: skip
    assert server_types | set(frames.KNOWN_TYPES) == names
    codes = set(document["components"]["schemas"]["Error"]["properties"]["code"]["enum"])
    module_codes = {
        value for key, value in vars(frames).items() if key.isupper() and isinstance(value, str) and "." in value
    }
    assert module_codes <= codes
    assert len(CLIENT_MESSAGES) == len(frames.KNOWN_TYPES)


@pytest.mark.parametrize(
    ("frame", "valid"),
    [
        ({"type": "bars.subscribe", "id": "r1", "data": {"symbol": "AAPL", "resolution": "1"}}, True),
        ({"type": "quotes.unsubscribe", "id": "r2", "data": {"symbol": "AAPL"}}, True),
        ({"type": "ping"}, True),
        ({"type": "bars.subscribe", "id": "r1", "data": {"symbol": "AAPL", "resolution": "2"}}, False),
        ({"type": "bars.subscribe", "data": {"symbol": "AAPL", "resolution": "1"}}, False),
        ({"type": "quotes.subscribe", "id": "r1", "data": {"symbol": "AAPL", "extra": 1}}, False),
        ({"type": "orders.place", "id": "r1"}, False),
    ],
)
def test_the_client_messages_are_strict(frame, valid):
    assert client_frame_valid(frame) is valid
