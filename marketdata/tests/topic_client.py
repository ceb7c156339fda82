"""A market topics client for the tests: every frame it sends or receives is checked against the AsyncAPI document."""

from __future__ import annotations

import json

from channels.testing import WebsocketCommunicator
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from marketdata.topics.asyncapi import asyncapi_document

DOC_URI = "urn:tradeconsole:asyncapi"
CLIENT_MESSAGES = ("barsSubscribe", "barsUnsubscribe", "quotesSubscribe", "quotesUnsubscribe", "ping")


def _registry() -> Registry:
    return Registry().with_resource(DOC_URI, Resource.from_contents(asyncapi_document(), default_specification=DRAFT7))


def message_validator(name: str) -> Draft7Validator:
    """A validator of the payload of the document's message ``name`` (components/messages)."""
    return Draft7Validator({"$ref": f"{DOC_URI}#/components/messages/{name}/payload"}, registry=_registry())


def _server_message_names() -> dict[str, str]:
    """Frame type → message name, for every message the server sends."""
    messages = asyncapi_document()["components"]["messages"]
    return {body["name"]: name for name, body in messages.items() if name not in CLIENT_MESSAGES}


def check_server_frame(frame: object) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``frame`` is a server message of the document."""
    names = _server_message_names()
    kind = frame.get("type") if isinstance(frame, dict) else None
    assert kind in names, f"the document has no server message {kind!r}: {frame!r}"
    message_validator(names[kind]).validate(frame)


def client_frame_valid(frame: object) -> bool:
    """Whether ``frame`` is one of the client messages of the document."""
    return any(message_validator(name).is_valid(frame) for name in CLIENT_MESSAGES)


class TopicClient:
    """A ``WebsocketCommunicator`` on ``/ws/market/`` speaking JSON; checks every frame against the document."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.received: list[dict] = []

    async def connect(self) -> tuple[bool, object]:
        return await self.communicator.connect(timeout=5)

    async def send(self, frame: dict) -> None:
        """Send a frame the document allows."""
        assert client_frame_valid(frame), f"not a client message of the document: {frame!r}"
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_bad(self, text: str | None = None, *, data: bytes | None = None) -> None:
        """Send a frame the document does not allow (the test is about the server's answer to it)."""
        if text is not None:
            try:
                decoded = json.loads(text)
            except (ValueError, RecursionError):
                decoded = None
            assert decoded is None or not client_frame_valid(decoded), f"the document allows {text!r}"
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def receive(self, timeout: float = 5) -> dict:
        """The next frame, heartbeats included, checked against the document."""
        frame = json.loads(await self.communicator.receive_from(timeout=timeout))
        check_server_frame(frame)
        self.received.append(frame)
        return frame

    async def next(self, kind: str | None = None, timeout: float = 5) -> dict:
        """The next frame that is not a heartbeat (and is of ``kind`` when given)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == "heartbeat":
                continue
            assert kind is None or frame["type"] == kind, frame
            return frame

    async def request(self, frame: dict) -> dict:
        """Send a request and return its response (updates before it would fail the test)."""
        await self.send(frame)
        return await self.next(f"{frame['type']}.response")

    async def quiet(self, timeout: float = 0.3) -> bool:
        """Whether nothing but heartbeats arrives within ``timeout``."""
        while not await self.communicator.receive_nothing(timeout=timeout):
            frame = await self.receive()
            if frame["type"] != "heartbeat":
                return False
        return True

    async def closed_with(self, timeout: float = 5) -> int:
        """The close code the server sends next (frames before it are checked and kept); then the
        client side ends too, as a browser's would, so the consumer stops its tasks."""
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                await self.communicator.disconnect()
                return output.get("code")
            frame = json.loads(output["text"])
            check_server_frame(frame)
            self.received.append(frame)

    async def disconnect(self) -> None:
        await self.communicator.disconnect()
