"""Event fan-out: bus backends, the ordered dispatcher with resume, the WebSocket gateway."""
