"""REST transport: thin, strictly typed endpoints calling queries and actions."""
