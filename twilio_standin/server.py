"""The stand-in itself: a switchboard whose calls are run by the TwiML runner, and its Flask
app (REST API + control API) served from a background thread."""

from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, make_server

from twilio_standin.app import create_app
from twilio_standin.clock import Clock
from twilio_standin.faults import Faults
from twilio_standin.switchboard import DEFAULT_HOTLINE_NUMBER, Switchboard
from twilio_standin.twiml_runner import start_inbound, start_outbound


class StandIn(Switchboard):
    """A local Twilio: the Calls REST resource, a TwiML executor, and scripted phones.

    The voice side is off until :meth:`connect` (HTTP) or :meth:`attach` (a WSGI app in
    this process) says where the hotline is; until then calls are only recorded.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        hotline_url: str | None = None,
        hotline_number: str = DEFAULT_HOTLINE_NUMBER,
        clock: Clock | None = None,
        status_callback: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        super().__init__(
            account_sid,
            auth_token,
            start_outbound=start_outbound,
            start_inbound=start_inbound,
            hotline_url=hotline_url,
            hotline_number=hotline_number,
            clock=clock,
            status_callback=status_callback,
            faults=faults,
        )
        self.host, self.port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app = create_app(self)

    def start(self) -> StandIn:
        """Serve on ``host:port`` (0: a free port) from a daemon thread."""
        self._server = make_server(self.host, self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="twilio-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (``python -m twilio_standin``)."""
        self._server = make_server(self.host, self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and hang up every call still running."""
        for call in self.registry.all():
            if not call.is_final:
                self.hang_up(call, "completed")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """Base URL of the stand-in (what TWILIO_API_BASE_URL should be)."""
        return f"http://{self.host}:{self.port}"
