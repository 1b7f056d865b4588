"""New-device login notices (T13): the owner hears of a login from a device and address
never seen for the account; a browser update is not a new device."""

from __future__ import annotations

from redoubt.domain.enums import UserRole
from tests.harness import Server

API = "/api/v1"


async def test_a_login_from_a_new_device_leaves_a_notice(server: Server) -> None:
    alice = await server.create_user("alice")  # first login ever: nothing to report
    assert await server.ok("GET", f"{API}/users/me/notices", alice) == []
    await server.new_session(alice, user_agent=server.http.headers["user-agent"])  # same device
    assert await server.ok("GET", f"{API}/users/me/notices", alice) == []

    await server.new_session(alice, user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    (notice,) = await server.ok("GET", f"{API}/users/me/notices", alice)
    assert notice["kind"] == "new_device_login"
    assert notice["details"] == {
        "ip": "127.0.0.1",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    }
    assert notice["read_at"] is None

    # The same browser, updated, is the same device.
    await server.new_session(alice, user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/141.2")
    assert len(await server.ok("GET", f"{API}/users/me/notices", alice)) == 1

    # Bob sees none of it and can't touch it.
    bob = await server.create_user("bob")
    assert await server.ok("GET", f"{API}/users/me/notices", bob) == []
    resp = await server.request("POST", f"{API}/users/me/notices/{notice['id']}/read", bob)
    assert resp.status_code == 404

    resp = await server.request("POST", f"{API}/users/me/notices/{notice['id']}/read", alice)
    assert resp.status_code == 204
    (read,) = await server.ok("GET", f"{API}/users/me/notices", alice)
    assert read["read_at"] is not None


async def test_new_devices_are_audited(server: Server) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    carol = await server.create_user("carol")
    await server.new_session(carol, user_agent="Phone/9")
    entries = await server.ok(
        "GET", f"{API}/admin/audit", admin, params={"action": "auth.new_device"}
    )
    assert [e["target_id"] for e in entries] == [carol.id]
