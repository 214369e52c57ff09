"""Every /twilio request must carry a valid signature computed on the public URL."""

from __future__ import annotations

from typing import Any

from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, Twilio


def test_missing_signature_is_refused(client: Any) -> None:
    response = client.post("/twilio/voice", data={"CallSid": "CA1", "From": "+12125550100"})
    assert response.status_code == 403


def test_forged_signature_is_refused(client: Any, twilio: Twilio) -> None:
    params = {"CallSid": "CA1", "From": "+12125550100"}
    forged = Twilio(client, auth_token="not-the-real-token")
    assert forged.post("/twilio/voice", params).status_code == 403
    # a signature for other parameters does not carry over
    sig = twilio.signature("/twilio/voice", {"CallSid": "CA2"})
    response = client.post("/twilio/voice", data=params, headers={"X-Twilio-Signature": sig})
    assert response.status_code == 403


def test_a_signature_on_the_url_with_its_port_is_accepted(client: Any) -> None:
    # Twilio has signed URLs both with and without the default port; both must pass.
    params = {"CallSid": "CA1", "From": "+12125550100"}
    with_port = PUBLIC_BASE_URL.replace(".org", ".org:443") + "/twilio/voice"
    sig = RequestValidator(AUTH_TOKEN).compute_signature(with_port, params)
    response = client.post("/twilio/voice", data=params, headers={"X-Twilio-Signature": sig})
    assert response.status_code == 200 and b"<Gather" in response.data
    wrong = RequestValidator(AUTH_TOKEN).compute_signature(with_port.replace("443", "8443"), params)
    refused = client.post("/twilio/voice", data=params, headers={"X-Twilio-Signature": wrong})
    assert refused.status_code == 403


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "redis": "ok"}
