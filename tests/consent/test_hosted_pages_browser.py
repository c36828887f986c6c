"""The hosted opt-in form and the preference centre, filled in real Chromium on a phone screen."""

import pytest
from playwright.sync_api import expect

from consent.models import ConsentEvent, ConsentState
from consent.preferences import preferences_token
from consent.services import consent_opt_in
from tests.a11y import axe_violations
from tests.factories import create_contact, create_program, create_sender, opt_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}
PNG = b"\x89PNG\r\n\x1a\n"


def screenshot(page, path) -> None:
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000


def test_a_person_joins_on_a_phone_and_the_ledger_keeps_the_evidence(
    browser_page, live_server, tmp_path, no_quiet_hours, settings
):
    settings.JOIN_FORM_MIN_SECONDS = 1
    program = create_program("deals", double_opt_in=True)
    create_sender(program)
    disclosure = program.current_disclosure()
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/join/deals/")
    expect(page.locator("#disclosure-text")).to_have_text(disclosure.text)
    expect(page.locator("#disclosure-text")).to_contain_text("not a condition of purchase")
    expect(page.get_by_label("Yes, send me Deals texts.")).not_to_be_checked()
    screenshot(page, tmp_path / "join-empty.png")
    assert axe_violations(page) == []

    page.get_by_label("Mobile number").fill("415 555 12")
    page.get_by_label("Yes, send me Deals texts.").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#phone-error")).to_contain_text("is not a valid phone number")
    expect(page.get_by_label("Yes, send me Deals texts.")).not_to_be_checked()
    screenshot(page, tmp_path / "join-bad-phone.png")
    assert not ConsentEvent.objects.exists()

    page.get_by_label("Mobile number").fill("(415) 555-2671")
    page.get_by_label("Name (optional)").fill("Ana López")
    page.get_by_label("Yes, send me Deals texts.").check()
    page.wait_for_timeout(1_000)  # a person takes a moment; a script posting at once is refused
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading")).to_have_text("One more step")
    expect(page.locator("main")).to_contain_text("Reply YES")
    screenshot(page, tmp_path / "join-done.png")

    event = ConsentEvent.objects.get()
    user_agent = page.evaluate("navigator.userAgent")
    assert (event.phone, event.method, event.resulting_status) == (
        "+14155552671",
        "web_form",
        "pending",
    )
    assert event.disclosure == disclosure
    assert event.source == f"{live_server.url}/join/deals/"
    assert event.evidence["ip"] == "127.0.0.1"
    assert event.evidence["user_agent"] == user_agent
    assert event.evidence["page_url"] == f"{live_server.url}/join/deals/"
    assert event.evidence["disclosure_version"] == disclosure.version


def test_a_number_texted_enough_today_gets_a_clear_page_on_a_phone(
    browser_page, live_server, tmp_path, no_quiet_hours, settings
):
    settings.JOIN_FORM_MIN_SECONDS = 0.5
    program = create_program("deals")
    create_sender(program)
    contact = create_contact("+14155552671")
    for _ in range(settings.JOIN_FORM_TEXTS_PER_NUMBER_24H):
        consent_opt_in(contact=contact, program=program, method="web_form", source="earlier")
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/join/deals/")
    honeypot = page.locator("#id_website").bounding_box()
    assert honeypot["x"] + honeypot["width"] <= 0  # off-screen: people never see it
    page.get_by_label("Mobile number").fill("(415) 555-2671")
    page.get_by_label("Yes, send me Deals texts.").check()
    page.wait_for_timeout(600)
    page.get_by_role("button", name="Sign up").click()

    expect(page.get_by_role("alert")).to_contain_text(
        "We have already sent 3 texts to this number today"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, tmp_path / "join-number-limited.png")
    assert axe_violations(page) == []
    assert ConsentEvent.objects.filter(contact=contact).count() == 3


def test_the_join_form_announces_its_errors_and_marks_the_box_invalid(
    browser_page, live_server, tmp_path
):
    program = create_program("deals")
    create_sender(program)
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/join/deals/")
    page.get_by_label("Mobile number").fill("415 555 12")
    page.get_by_role("button", name="Sign up").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("is not a valid phone number")
    expect(summary).to_contain_text("Tick the box")
    expect(summary.get_by_role("link", name="Tick the box", exact=False)).to_have_attribute(
        "href", "#id_consent"
    )
    box = page.get_by_label("Yes, send me Deals texts.")
    expect(box).to_have_attribute("aria-invalid", "true")
    assert "consent-error" in box.get_attribute("aria-describedby")
    screenshot(page, tmp_path / "join-errors.png")
    assert axe_violations(page) == []
    assert not ConsentEvent.objects.exists()


def test_a_person_turns_a_program_off_and_chooses_weekly(browser_page, live_server, tmp_path):
    offers, news = create_program("offers"), create_program("news")
    contact = create_contact()
    opt_in(contact, offers)
    opt_in(contact, news)
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/preferences/{preferences_token(contact)}/")
    expect(page.get_by_label("Offers")).to_be_checked()
    screenshot(page, tmp_path / "preferences.png")
    assert axe_violations(page) == []

    page.get_by_label("Offers").uncheck()
    page.get_by_label("At most one marketing message a week").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.get_by_label("Offers")).not_to_be_checked()
    expect(page.get_by_label("At most one marketing message a week")).to_be_checked()
    screenshot(page, tmp_path / "preferences-saved.png")

    user_agent = page.evaluate("navigator.userAgent")
    events = ConsentEvent.objects.filter(method="preference_centre")
    assert sorted((e.program.slug, e.kind) for e in events) == [
        ("news", "preference"),
        ("offers", "opt_out"),
        ("offers", "preference"),
    ]
    assert all(e.evidence["user_agent"] == user_agent for e in events)
    assert ConsentState.objects.get(contact=contact, program=offers).status == "opted_out"
    contact.refresh_from_db()
    assert contact.frequency_preference == "weekly"


def test_a_forged_link_shows_the_refusal_page(browser_page, live_server, tmp_path):
    contact = create_contact()
    opt_in(contact, create_program("offers"))
    response = browser_page.goto(f"{live_server.url}/preferences/{contact.pk}.abc:1x:forged/")
    assert response.status == 403
    expect(browser_page.get_by_role("heading")).to_have_text("This link is no longer valid")
    screenshot(browser_page, tmp_path / "link-invalid.png")
