"""The HTTP shell every feature's routes stand on: JSON and error replies, query parameters,
request bodies, the admin guard with its login, sessions, token, throttle and cross-site check,
the security headers, trusted proxies, the uvicorn server, shutdown and readiness, and the
component protocols an application is built from. It imports no feature."""
