from __future__ import annotations

import httpx

REQUEST = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "service_type": "solar_repair",
    "contact_method": "phone_call",
    "priority": "high",
    "subject": "Inverter beeps and shuts down",
    "description": "Since yesterday the inverter shuts down every hour.",
}


async def test_smoke(client: httpx.AsyncClient, make_user) -> None:
    response = await client.post("/api/v1/requests", json=REQUEST)
    assert response.status_code == 201, response.text
    body = response.json()
    agent = await make_user("agent")
    detail = await client.get(f"/api/v1/tickets/{body['reference']}", headers=agent.headers)
    assert detail.status_code == 200, detail.text
    print(detail.json())
