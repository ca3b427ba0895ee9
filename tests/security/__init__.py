"""Security tests: loopback-only listeners, the control API token, MQTT auth and ACLs, OCPP
handshake auth, and no secret in logs, reprs or errors.

``README.md`` here maps each promise to the tests that assert it, existing ones elsewhere
included.
"""
