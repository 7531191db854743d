"""Where Sluice's alerts go: Airflow notifiers, chosen by the connections that exist.

* the log of the task that raised them: always;
* a webhook: when the connection ``sluice_alerts_webhook`` exists (an HTTP connection whose URL
  takes a JSON POST — a Slack or Teams incoming webhook, or an on-call system's);
* e-mail: when the SMTP connection ``sluice_alerts_smtp`` exists, to the addresses in its extra
  ``{"to": "oncall@example.org"}``.

This module holds no DAG; the DAG processor finds none and moves on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import BaseNotifier, Connection
from airflow.sdk.exceptions import AirflowNotFoundException

WEBHOOK_CONN_ID = "sluice_alerts_webhook"
SMTP_CONN_ID = "sluice_alerts_smtp"

log = logging.getLogger(__name__)


class LogNotifier(BaseNotifier):
    """Writes each alert as a warning in the task's log."""

    template_fields = ("message",)

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def notify(self, context: Any) -> None:
        for line in self.message.splitlines():
            log.warning("ALERT %s", line)


class WebhookNotifier(BaseNotifier):
    """POSTs ``{"text": <message>, "alerts": [...]}`` as JSON to the URL of an HTTP connection.

    Slack and Teams incoming webhooks read ``text``; other receivers get the structured alerts.
    """

    template_fields = ("message",)

    def __init__(
        self,
        message: str,
        alerts: list[dict],
        conn_id: str = WEBHOOK_CONN_ID,
        timeout: float = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.message, self.alerts, self.conn_id, self.timeout = message, alerts, conn_id, timeout

    def url(self) -> str:
        conn = Connection.get(self.conn_id)
        if not conn.host:
            raise ValueError(f"connection {self.conn_id!r} has no host: set it to the webhook's URL")
        if "://" in conn.host:  # the whole URL in the host field
            return conn.host
        scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
        port = f":{conn.port}" if conn.port else ""
        path = (conn.schema or "").lstrip("/")
        endpoint = (conn.extra_dejson.get("endpoint") or "").lstrip("/")
        return f"{scheme}://{conn.host}{port}/{'/'.join(p for p in (path, endpoint) if p)}"

    def notify(self, context: Any) -> None:
        import urllib.request

        url = self.url()
        body = json.dumps({"text": self.message, "alerts": self.alerts}).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            log.info("alerts posted to %s: HTTP %s", self.conn_id, response.status)


def _exists(conn_id: str) -> Connection | None:
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def notifiers(subject: str, lines: list[str], alerts: list[dict]) -> list[BaseNotifier]:
    """The notifiers for a set of alerts: the log always, a webhook and e-mail when configured."""
    message = "\n".join([subject, *lines])
    chosen: list[BaseNotifier] = [LogNotifier(message)]
    if _exists(WEBHOOK_CONN_ID):
        chosen.append(WebhookNotifier(message, alerts))
    smtp = _exists(SMTP_CONN_ID)
    if smtp:
        recipients = smtp.extra_dejson.get("to")
        if not recipients:
            log.error("connection %s has no 'to' in its extra: no e-mail is sent", SMTP_CONN_ID)
        else:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            chosen.append(
                SmtpNotifier(
                    to=recipients,
                    subject=subject,
                    html_content="<br>".join([subject, *lines]),
                    smtp_conn_id=SMTP_CONN_ID,
                )
            )
    return chosen


def send(context: Any, subject: str, lines: list[str], alerts: list[dict]) -> list[str]:
    """Send through every configured notifier; each is tried even if another fails, and the task
    fails afterwards (its retry sends again) when one did. Returns the notifiers used."""
    used, failed = [], []
    for notifier in notifiers(subject, lines, alerts):
        name = type(notifier).__name__
        try:
            notifier(context)
            used.append(name)
        except Exception as exc:  # one channel down must not silence the others
            log.error("%s could not send the alerts: %s", name, exc)
            failed.append(f"{name}: {exc}")
    if failed:
        raise RuntimeError("alerts not delivered by " + "; ".join(failed))
    return used
