"""The only writes: ``do_<verb>_<noun>(ctx, …, *, acting_user)``.

Each action is one transaction that re-checks authorization on what it loaded, writes
one audit row when the change is security-relevant, and appends its events, which go
out only after the commit.
"""
