"""Pure rules, no IO: roles, permissions, names, mentions, and the public views."""
