"""The server-sent event stream that console pages listen to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from opsdesk.console.deps import AnyStaff
from opsdesk.live.broadcaster import Broadcaster

router = APIRouter(prefix="/console", include_in_schema=False)

HEARTBEAT_SECONDS = 15.0


@router.get("/events")
async def events(request: Request, _staff: AnyStaff) -> StreamingResponse:
    """Stream committed events: ``event: <type>`` and JSON ``data`` with the event's payload.

    A comment line every 15 s keeps proxies from closing an idle stream.
    """
    broadcaster: Broadcaster = request.app.state.broadcaster
    queue = await broadcaster.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield event.to_sse()
        finally:
            broadcaster.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
