"""The template editor's live meter, typed into in real Chromium."""

import pytest
from playwright.sync_api import expect

from tests.a11y import DJANGO_ADMIN_KNOWN, axe_violations
from tests.conftest import admin_login
from tests.factories import create_template, create_version, marketer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def editor(browser_page, live_server, tmp_path):
    mia = marketer()
    template = create_template(owner=mia)
    admin_login(browser_page, live_server, mia.username)
    browser_page.goto(f"{live_server.url}/admin/templates/templateversion/add/")
    browser_page.select_option("#id_template", str(template.pk))
    return browser_page


def meter(page) -> tuple[str, str, str]:
    return (
        page.locator("#sms-characters").inner_text(),
        page.locator("#sms-encoding").inner_text(),
        page.locator("#sms-segments").inner_text(),
    )


def type_and_expect(page, text: str, characters: str, encoding: str, segments: str) -> None:
    page.locator("textarea.sms-editor").press_sequentially(text)
    expect(page.locator("#sms-characters")).to_have_text(characters)
    expect(page.locator("#sms-encoding")).to_have_text(encoding)
    expect(page.locator("#sms-segments")).to_have_text(segments)


def test_it_counts_gsm_segments_at_the_160_161_boundary(editor, tmp_path):
    editor.fill("textarea.sms-editor", "1" * 158)
    type_and_expect(editor, "9", "159", "GSM-7", "1")
    type_and_expect(editor, "9", "160", "GSM-7", "1")
    type_and_expect(editor, "9", "161", "GSM-7", "2")
    editor.screenshot(path=str(tmp_path / "editor-161.png"))


def test_it_counts_ucs2_segments_at_the_70_71_boundary(editor):
    editor.fill("textarea.sms-editor", "ç" * 68)
    type_and_expect(editor, "ç", "69", "UCS-2", "1")
    type_and_expect(editor, "ç", "70", "UCS-2", "1")
    type_and_expect(editor, "ç", "71", "UCS-2", "2")
    expect(editor.locator("#sms-non-gsm-list")).to_have_text("ç")
    expect(editor.locator("#sms-highlight mark").first).to_have_text("ç")


def test_it_fixes_look_alike_characters_in_one_click(editor):
    editor.locator("textarea.sms-editor").press_sequentially("Acme: “Sale” today… Reply STOP")
    expect(editor.locator("#sms-encoding")).to_have_text("UCS-2")
    editor.click("#sms-smart-fix")
    expect(editor.locator("#sms-encoding")).to_have_text("GSM-7")
    assert editor.input_value("textarea.sms-editor") == 'Acme: "Sale" today... Reply STOP'
    expect(editor.locator("#sms-smart-fix")).to_be_hidden()


def test_it_names_unknown_tokens_as_you_type(editor):
    editor.locator("textarea.sms-editor").press_sequentially("Hi {frist_name}")
    expect(editor.locator("#sms-token-error")).to_contain_text("{frist_name}")


def test_it_counts_as_you_type_before_a_template_is_chosen(browser_page, live_server):
    mia = marketer()
    create_template(owner=mia)
    admin_login(browser_page, live_server, mia.username)
    browser_page.goto(f"{live_server.url}/admin/templates/templateversion/add/")
    assert browser_page.input_value("#id_template") == ""
    errors: list[int] = []
    browser_page.on("response", lambda r: r.status >= 500 and errors.append(r.status))
    type_and_expect(browser_page, "Hello from Acme", "15", "GSM-7", "1")
    expect(browser_page.locator("#sms-meter-figures")).to_have_attribute("aria-live", "polite")
    expect(browser_page.locator("#sms-token-error")).to_be_hidden()
    assert errors == []
    assert axe_violations(browser_page, known=DJANGO_ADMIN_KNOWN) == []


def test_a_saved_version_is_checked_with_its_templates_brand(browser_page, live_server):
    mia = marketer()
    version = create_version(create_template(owner=mia), author=mia, body="Sale today")
    admin_login(browser_page, live_server, mia.username)
    browser_page.goto(f"{live_server.url}/admin/templates/templateversion/{version.pk}/change/")
    browser_page.locator("textarea.sms-editor").press_sequentially(" at https://acme.example/s")
    expect(browser_page.locator("#sms-characters")).to_have_text("36")
    findings = browser_page.locator("#sms-findings")
    expect(findings).not_to_contain_text("link_domain")
    expect(findings).to_contain_text("missing_opt_out_language")
    expect(browser_page.locator("#sms-token-error")).to_be_hidden()
    browser_page.click("#version-submit")
    expect(browser_page.locator(".messagelist")).to_contain_text("cannot be submitted")
    assert axe_violations(browser_page, known=DJANGO_ADMIN_KNOWN) == []
