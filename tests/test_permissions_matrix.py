"""The room authorization matrix, checked cell by cell against a table written by hand.

Every combination of account role x room kind x membership x action x archived is
listed below with the verdict the design calls for (see the docstring of
:mod:`redoubt.domain.permissions` and of :class:`redoubt.domain.enums.RoomKind`). The
table is data, not a second implementation: a change to :func:`decide` that moves a
single cell fails here, and adding a role, kind or action fails the coverage test until
the table says what the new value may do.
"""

from __future__ import annotations

import itertools

import pytest

from redoubt.domain.enums import MemberRole, RoomKind, UserRole
from redoubt.domain.permissions import (
    RoomAction,
    Verdict,
    decide,
    may_create_room,
    may_manage_member,
)

# Column order of the verdict strings below.
ACTIONS: tuple[RoomAction, ...] = (
    RoomAction.READ,
    RoomAction.JOIN,
    RoomAction.LEAVE,
    RoomAction.POST,
    RoomAction.INVITE,
    RoomAction.KICK,
    RoomAction.UPDATE,
    RoomAction.ARCHIVE,
    RoomAction.PIN,
    RoomAction.DELETE_ANY,
    RoomAction.SET_MEMBER_ROLE,
)
LETTERS: dict[str, Verdict] = {
    "A": Verdict.ALLOW,
    "F": Verdict.FORBIDDEN,
    "R": Verdict.ARCHIVED,
    "N": Verdict.NOT_FOUND,
}

ADMIN, USER, BOT, GUEST = UserRole.ADMIN, UserRole.USER, UserRole.BOT, UserRole.GUEST
CHANNEL, PRIVATE, DM = RoomKind.CHANNEL, RoomKind.PRIVATE, RoomKind.DM
OWNER, MOD, MEMBER = MemberRole.OWNER, MemberRole.MODERATOR, MemberRole.MEMBER

# A = allow, F = forbidden (403), R = archived (403), N = not found (404: the room stays
# invisible). The 11 letters of each verdict string are, in this order: read, join,
# leave, post, invite, kick, update, archive, pin, delete_any, set_member_role.
# fmt: off
MATRIX: list[tuple[UserRole, RoomKind, MemberRole | None, str, str]] = [
    # role  kind     member   live (not archived)      archived
    # --- public channels: users and admins see them without joining; admins moderate.
    (ADMIN, CHANNEL, None,   "A A F F A A A A A A A", "A R F R R R R A R R R"),
    (ADMIN, CHANNEL, MEMBER, "A A A A A A A A A A A", "A R A R R R R A R R R"),
    (ADMIN, CHANNEL, MOD,    "A A A A A A A A A A A", "A R A R R R R A R R R"),
    (ADMIN, CHANNEL, OWNER,  "A A A A A A A A A A A", "A R A R R R R A R R R"),
    (USER,  CHANNEL, None,   "A A F F F F F F F F F", "A R F R R R R F R R R"),
    (USER,  CHANNEL, MEMBER, "A A A A A F F F F F F", "A R A R R R R F R R R"),
    (USER,  CHANNEL, MOD,    "A A A A A A A F A A F", "A R A R R R R F R R R"),
    (USER,  CHANNEL, OWNER,  "A A A A A A A A A A A", "A R A R R R R A R R R"),
    # Bots and guests don't see channels they are not in.
    (BOT,   CHANNEL, None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (BOT,   CHANNEL, MEMBER, "A A A A A F F F F F F", "A R A R R R R F R R R"),
    (BOT,   CHANNEL, MOD,    "A A A A A A A F A A F", "A R A R R R R F R R R"),
    (BOT,   CHANNEL, OWNER,  "A A A A A A A A A A A", "A R A R R R R A R R R"),
    (GUEST, CHANNEL, None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    # Guests never invite, whatever their room role.
    (GUEST, CHANNEL, MEMBER, "A A A A F F F F F F F", "A R A R R R R F R R R"),
    (GUEST, CHANNEL, MOD,    "A A A A F A A F A A F", "A R A R R R R F R R R"),
    (GUEST, CHANNEL, OWNER,  "A A A A F A A A A A A", "A R A R R R R A R R R"),
    # --- private groups: invisible to every non-member, admins included; only
    # moderators invite; admins have no extra rights.
    (ADMIN, PRIVATE, None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (ADMIN, PRIVATE, MEMBER, "A A A A F F F F F F F", "A R A R R R R F R R R"),
    (ADMIN, PRIVATE, MOD,    "A A A A A A A F A A F", "A R A R R R R F R R R"),
    (ADMIN, PRIVATE, OWNER,  "A A A A A A A A A A A", "A R A R R R R A R R R"),
    (USER,  PRIVATE, None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (USER,  PRIVATE, MEMBER, "A A A A F F F F F F F", "A R A R R R R F R R R"),
    (USER,  PRIVATE, MOD,    "A A A A A A A F A A F", "A R A R R R R F R R R"),
    (USER,  PRIVATE, OWNER,  "A A A A A A A A A A A", "A R A R R R R A R R R"),
    (BOT,   PRIVATE, None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (BOT,   PRIVATE, MEMBER, "A A A A F F F F F F F", "A R A R R R R F R R R"),
    (BOT,   PRIVATE, MOD,    "A A A A A A A F A A F", "A R A R R R R F R R R"),
    (BOT,   PRIVATE, OWNER,  "A A A A A A A A A A A", "A R A R R R R A R R R"),
    (GUEST, PRIVATE, None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (GUEST, PRIVATE, MEMBER, "A A A A F F F F F F F", "A R A R R R R F R R R"),
    (GUEST, PRIVATE, MOD,    "A A A A F A A F A A F", "A R A R R R R F R R R"),
    (GUEST, PRIVATE, OWNER,  "A A A A F A A A A A A", "A R A R R R R A R R R"),
    # --- DMs: membership fixed at creation (no leave, invite, kick, roles, archive);
    # every participant may post and pin; nobody moderates; outsiders see nothing.
    (ADMIN, DM,      None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (ADMIN, DM,      MEMBER, "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (ADMIN, DM,      MOD,    "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (ADMIN, DM,      OWNER,  "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (USER,  DM,      None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (USER,  DM,      MEMBER, "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (USER,  DM,      MOD,    "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (USER,  DM,      OWNER,  "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (BOT,   DM,      None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (BOT,   DM,      MEMBER, "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (BOT,   DM,      MOD,    "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (BOT,   DM,      OWNER,  "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (GUEST, DM,      None,   "N N N N N N N N N N N", "N N N N N N N N N N N"),
    (GUEST, DM,      MEMBER, "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (GUEST, DM,      MOD,    "A A F A F F F F A F F", "A R F R R R R F R R R"),
    (GUEST, DM,      OWNER,  "A A F A F F F F A F F", "A R F R R R R F R R R"),
]
# fmt: on

Cell = tuple[UserRole, RoomKind, MemberRole | None, RoomAction, bool]


def _expand() -> dict[Cell, Verdict]:
    cells: dict[Cell, Verdict] = {}
    for role, kind, member, live, archived in MATRIX:
        for is_archived, row in ((False, live), (True, archived)):
            letters = row.split()
            assert len(letters) == len(ACTIONS), (role, kind, member, row)
            for action, letter in zip(ACTIONS, letters, strict=True):
                cell = (role, kind, member, action, is_archived)
                assert cell not in cells, f"duplicate row for {cell}"
                cells[cell] = LETTERS[letter]
    return cells


EXPECTED = _expand()
MEMBERSHIPS: tuple[MemberRole | None, ...] = (None, *MemberRole)


def _cell_id(cell: Cell) -> str:
    role, kind, member, action, archived = cell
    return f"{role}-{kind}-{member or 'outsider'}-{action}-{'archived' if archived else 'live'}"


def test_table_covers_every_combination() -> None:
    every = set(itertools.product(UserRole, RoomKind, MEMBERSHIPS, RoomAction, (False, True)))
    assert set(ACTIONS) == set(RoomAction), "a RoomAction has no column in MATRIX"
    assert set(EXPECTED) == every
    assert len(EXPECTED) == 4 * 3 * 4 * 11 * 2


CELLS: list[Cell] = sorted(EXPECTED.keys(), key=_cell_id)


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_decide(cell: Cell) -> None:
    role, kind, member, action, archived = cell
    assert decide(role, kind, member, action, archived=archived) is EXPECTED[cell]


def test_invisible_rooms_are_invisible_for_every_action() -> None:
    """Deny by default: wherever READ is NOT_FOUND, so is everything else (no action
    lets a caller learn that a room it can't see exists)."""
    for role, kind, member in itertools.product(UserRole, RoomKind, MEMBERSHIPS):
        for archived in (False, True):
            read = decide(role, kind, member, RoomAction.READ, archived=archived)
            verdicts = {decide(role, kind, member, a, archived=archived) for a in RoomAction}
            if read is Verdict.NOT_FOUND:
                assert verdicts == {Verdict.NOT_FOUND}, (role, kind, member, archived)
            else:
                assert Verdict.NOT_FOUND not in verdicts, (role, kind, member, archived)


def test_rooms_can_be_reopened_and_left_after_archiving() -> None:
    """Archiving freezes content, but the owner can unarchive and members can leave."""
    for role in UserRole:
        assert decide(role, CHANNEL, OWNER, RoomAction.ARCHIVE, archived=True) is Verdict.ALLOW
        assert decide(role, PRIVATE, MEMBER, RoomAction.LEAVE, archived=True) is Verdict.ALLOW
        assert decide(role, PRIVATE, OWNER, RoomAction.READ, archived=True) is Verdict.ALLOW


# may_create_room: channel, private, dm
CREATE: dict[UserRole, tuple[bool, bool, bool]] = {
    ADMIN: (True, True, True),
    USER: (True, True, True),
    BOT: (False, False, True),
    GUEST: (False, False, False),
}


def test_create_table_covers_every_role() -> None:
    assert set(CREATE) == set(UserRole)


@pytest.mark.parametrize(
    ("role", "kind"),
    list(itertools.product(UserRole, (CHANNEL, PRIVATE, DM))),
    ids=str,
)
def test_may_create_room(role: UserRole, kind: RoomKind) -> None:
    expected = CREATE[role][(CHANNEL, PRIVATE, DM).index(kind)]
    assert may_create_room(role, kind) is expected


# may_manage_member(actor, target, actor_is_admin): target columns member, moderator, owner
MANAGE: dict[tuple[MemberRole | None, bool], tuple[bool, bool, bool]] = {
    (None, False): (False, False, False),
    (MEMBER, False): (False, False, False),
    (MOD, False): (True, False, False),
    (OWNER, False): (True, True, True),
    # Admins may act on anyone (they only get here in channels, where they moderate).
    (None, True): (True, True, True),
    (MEMBER, True): (True, True, True),
    (MOD, True): (True, True, True),
    (OWNER, True): (True, True, True),
}
TARGETS: tuple[MemberRole, ...] = (MEMBER, MOD, OWNER)


def test_manage_table_covers_every_combination() -> None:
    assert set(MANAGE) == set(itertools.product(MEMBERSHIPS, (False, True)))
    assert set(TARGETS) == set(MemberRole)


@pytest.mark.parametrize(
    ("actor", "target", "actor_is_admin"),
    list(itertools.product(MEMBERSHIPS, TARGETS, (False, True))),
    ids=str,
)
def test_may_manage_member(
    actor: MemberRole | None, target: MemberRole, actor_is_admin: bool
) -> None:
    expected = MANAGE[(actor, actor_is_admin)][TARGETS.index(target)]
    assert may_manage_member(actor, target, actor_is_admin=actor_is_admin) is expected
