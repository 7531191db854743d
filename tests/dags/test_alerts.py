"""Where alerts go: the notifiers chosen by the connections that exist, the webhook's URL, and a
channel that fails without silencing the others."""

from __future__ import annotations

import sys

import pytest

from tests.dags.test_dag_integrity import DAGS

sys.path.insert(0, str(DAGS))

from sluice_alerts import notifiers, send


@pytest.fixture(autouse=True)
def no_channels(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SLUICE_ALERTS_WEBHOOK", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SLUICE_ALERTS_SMTP", raising=False)


def names(chosen) -> list[str]:
    return [type(n).__name__ for n in chosen]


def test_the_log_always_and_nothing_else_unconfigured():
    assert names(notifiers("s", ["a"], [])) == ["LogNotifier"]


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("http://127.0.0.1:8099/hooks/sluice", "http://127.0.0.1:8099/hooks/sluice"),
        ("https://hooks.example.org/services/T0/B0", "https://hooks.example.org/services/T0/B0"),
        (
            '{"conn_type": "http", "host": "https://hooks.slack.com/services/X"}',
            "https://hooks.slack.com/services/X",
        ),
    ],
)
def test_a_webhook_connection_adds_a_webhook_with_its_url(monkeypatch, uri, url):
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_ALERTS_WEBHOOK", uri)
    chosen = notifiers("s", ["a"], [{"metric": "drift_share"}])
    assert names(chosen) == ["LogNotifier", "WebhookNotifier"]
    assert chosen[1].url() == url


def test_an_smtp_connection_adds_e_mail_to_its_recipients_only_when_it_names_them(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLUICE_ALERTS_SMTP", "smtp://u:secret@mail.example.org:587?to=oncall%40example.org"
    )
    chosen = notifiers("subject", ["line"], [])
    assert names(chosen) == ["LogNotifier", "SmtpNotifier"]
    assert (chosen[1].to, chosen[1].smtp_conn_id, chosen[1].subject) == (
        "oncall@example.org",
        "sluice_alerts_smtp",
        "subject",
    )
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_ALERTS_SMTP", "smtp://u:secret@mail.example.org:587")
    assert names(notifiers("subject", ["line"], [])) == ["LogNotifier"]


def test_a_failing_channel_does_not_silence_the_others_and_fails_the_task(monkeypatch, caplog):
    # nothing listens on port 9: the webhook fails, the log still gets the alert
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_ALERTS_WEBHOOK", "http://127.0.0.1:9/hook")
    with pytest.raises(RuntimeError, match="alerts not delivered by WebhookNotifier"):
        send({}, "Sluice: 1 alert", ["2026-02-01: drift_share is 0.5"], [])
    assert "ALERT 2026-02-01: drift_share is 0.5" in caplog.text
