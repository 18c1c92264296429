"""The SSRF guard: every refused address class, at registration and again at delivery."""

from __future__ import annotations

import socket
from unittest import mock

import pytest

from tests.factories import WebhookEndpointFactory
from tests.webhooks.receiver import receiver
from webhooks.delivery import webhook_delivery_attempt
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.ssrf import UrlRefused, address_refusal, is_ip_literal, url_check

WEBHOOKS = "/v1/organizations/acme/webhooks"
EVENTS = ["bulkTask.completed"]

# (address, the class it is refused as)
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
    ("::", "unspecified"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("192.0.2.1", "private"),  # TEST-NET-1, documentation
    ("198.18.0.1", "private"),  # benchmarking
    ("2001:db8::1", "private"),  # documentation
    ("fec0::1", "private"),  # deprecated site-local, global to some Python versions
    ("192.0.0.8", "reserved"),  # IETF protocol assignments, global to some Python versions
    # IPv6 forms that carry an IPv4 address are judged by the IPv4 address.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo tunnel"),
]
PUBLIC = [
    "93.184.215.14",
    "8.8.8.8",
    "2606:4700:4700::1111",
    "::ffff:93.184.215.14",
    "64:ff9b::5db8:d70e",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_each_address_class_is_refused(address, reason):
    assert address_refusal(address) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert address_refusal(address) is None


def test_loopback_is_allowed_only_when_the_setting_says_so():
    assert address_refusal("127.0.0.1", allow_loopback=True) is None
    assert address_refusal("::ffff:127.0.0.1", allow_loopback=True) is None
    # Never the metadata service or a private network, whatever the setting.
    assert address_refusal("169.254.169.254", allow_loopback=True) == "cloud metadata"
    assert address_refusal("10.0.0.1", allow_loopback=True) == "private"


def test_an_operator_can_deny_more_networks(settings):
    settings.WEBHOOK_DENIED_NETWORKS = ["93.184.0.0/16", "2606:4700::/32"]

    assert address_refusal("93.184.215.14") == "denied"
    assert address_refusal("2606:4700:4700::1111") == "denied"
    assert address_refusal("8.8.8.8") is None


@pytest.fixture
def production_rules(settings):
    """The production rule: https only, no loopback."""
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False


@pytest.mark.django_db
@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_registration_refuses_a_host_resolving_to_each_class_with_1021(
    manager_client, production_rules, address, reason
):
    with mock.patch("webhooks.ssrf.resolve", return_value=[address]):
        response = manager_client.post(
            WEBHOOKS, {"url": "https://hooks.example.com/x", "events": EVENTS}, format="json"
        )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 1021
    # A host name gets one message whatever it resolves to: no map of a private network.
    assert (
        error["message"]
        == "Webhook URL not allowed: its host must resolve to public addresses only"
    )
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_one_refused_address_among_public_ones_refuses_the_url(manager_client, production_rules):
    with mock.patch("webhooks.ssrf.resolve", return_value=["93.184.215.14", "10.0.0.7"]):
        response = manager_client.post(
            WEBHOOKS, {"url": "https://hooks.example.com/x", "events": EVENTS}, format="json"
        )

    assert response.json()["error"]["code"] == 1021


@pytest.mark.django_db
def test_a_host_that_does_not_resolve_gets_the_same_answer(manager_client, production_rules):
    response = manager_client.post(
        WEBHOOKS, {"url": "https://does-not-exist.invalid/x", "events": EVENTS}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 1021,
        "message": "Webhook URL not allowed: its host must resolve to public addresses only",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/x", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("https://[::ffff:127.0.0.1]/x", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/x", "cloud metadata"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://10.0.0.1/x", "private"),
        ("https://100.64.1.1/x", "shared (CGNAT)"),
        # Decimal, hexadecimal, octal and short forms are read as the C library reads them.
        ("https://2130706433/x", "loopback"),
        ("https://0x7f000001/x", "loopback"),
        ("https://0177.0.0.1/x", "loopback"),
        ("https://127.1/x", "loopback"),
        ("https://167772161/x", "private"),
        ("https://0xa9fea9fe/x", "cloud metadata"),
    ],
)
def test_registration_refuses_addresses_written_in_the_url(
    manager_client, production_rules, url, reason
):
    response = manager_client.post(WEBHOOKS, {"url": url, "events": EVENTS}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 1021
    assert reason in error["message"] or error["message"].endswith("public addresses only")


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "localhost"])
def test_numeric_and_local_forms_resolve_to_loopback(host, settings):
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False

    with pytest.raises(UrlRefused) as refused:
        url_check(f"https://{host}/x")

    assert refused.value.reason == "its host resolves to a loopback address"


def test_the_allowlist_refuses_other_hosts_before_any_lookup(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.example.com", ".partner.example"]

    with mock.patch("webhooks.ssrf.resolve", return_value=["93.184.215.14"]) as resolve:
        with pytest.raises(UrlRefused) as refused:
            url_check("https://evil.example.net/x")
        resolve.assert_not_called()
        assert refused.value.rule == "host"
        assert url_check("https://hooks.example.com/x").addresses == ("93.184.215.14",)
        assert url_check("https://a.b.partner.example/x").host == "a.b.partner.example"
        with pytest.raises(UrlRefused):
            url_check("https://notpartner.example/x")


@pytest.mark.django_db
def test_delivery_refuses_a_host_that_resolves_to_a_private_address_after_registration(
    organization, finish_task
):
    """DNS can change after registration: the check runs again before every attempt."""
    with receiver() as hooks:
        # Registered while the host name resolved to the (here allowed) receiver...
        with mock.patch("webhooks.ssrf.resolve", return_value=["127.0.0.1"]):
            url = hooks.url.replace("127.0.0.1", "hooks.example.com")
            WebhookEndpointFactory(organization=organization, url=url, events=EVENTS)
        [delivery] = finish_task(organization)

        # ...it now answers with the metadata service's address.
        with mock.patch("webhooks.ssrf.resolve", return_value=["127.0.0.1", "169.254.169.254"]):
            attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

        assert hooks.received == []
    assert attempt is not None
    assert attempt.outcome == WebhookAttempt.Outcome.REFUSED
    assert "cloud metadata" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING  # retried: DNS may change back


@pytest.mark.django_db
def test_delivery_connects_to_the_address_it_checked_not_a_second_lookup(organization, finish_task):
    """DNS rebinding: a resolver answering a public address to the check, then an internal one,
    must not get the request sent to the internal one. The check's answer is the one used."""
    with receiver() as hooks:
        url = hooks.url.replace("127.0.0.1", "rebind.example.com")
        with mock.patch("webhooks.ssrf.resolve", return_value=["127.0.0.1"]):
            WebhookEndpointFactory(organization=organization, url=url, events=EVENTS)
        [delivery] = finish_task(organization)
        answers = iter([["127.0.0.1"], ["10.0.0.1"]])
        real_getaddrinfo = socket.getaddrinfo

        def numeric_only(host, *args, **kwargs):
            # Connecting to an address literal is fine; looking the name up again is not.
            assert is_ip_literal(str(host)), f"a second lookup of {host}"
            return real_getaddrinfo(host, *args, **kwargs)

        with (
            mock.patch("webhooks.ssrf.resolve", side_effect=lambda host, port: next(answers)),
            mock.patch("socket.getaddrinfo", side_effect=numeric_only),
        ):
            attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

        [request] = hooks.wait_for(1)
    assert attempt is not None
    assert attempt.outcome == "succeeded"
    assert attempt.address == "127.0.0.1"
    # The Host header stays the URL's name, though the connection went to the checked address.
    assert request.headers["host"].startswith("rebind.example.com:")
