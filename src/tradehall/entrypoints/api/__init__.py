"""The HTTP and WebSocket API: routers per resource, one error shape, one auth layer."""
