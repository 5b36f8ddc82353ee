import logging

from opsdesk.logs import MaskStatusTokens


def test_access_log_masks_status_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/requests/status/Zk3-abc_DEF123?x=1", "1.1", 200),
        None,
    )
    assert MaskStatusTokens().filter(record)
    message = record.getMessage()
    assert "Zk3-abc_DEF123" not in message
    assert "/api/v1/requests/status/…?x=1" in message
