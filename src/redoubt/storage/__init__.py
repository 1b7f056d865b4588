"""All SQL lives here: schema, repositories, transactions with on-commit events, migrations."""
