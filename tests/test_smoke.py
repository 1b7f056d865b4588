from __future__ import annotations

from tests.harness import Server


async def test_post_and_receive_over_websocket(server: Server) -> None:
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    room = await server.room(alice, "general", "channel", bob)
    async with server.events(bob) as stream:
        sent = await server.post(alice, room, "hello @bob")
        event = await stream.next_event()
    assert event["type"] == "message.created"
    assert event["data"]["id"] == sent["id"]
    assert event["data"]["mentions"] == [bob.id]
    assert event["seq"] == sent["position"]
