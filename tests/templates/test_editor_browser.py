"""The template editor's live meter, typed into in real Chromium."""

import pytest
from playwright.sync_api import expect

from tests.conftest import admin_login
from tests.factories import create_template, marketer

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
