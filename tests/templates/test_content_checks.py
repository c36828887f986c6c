"""Content checks: each code fires on what compliance would reject, and stays quiet otherwise."""

import dataclasses
from dataclasses import dataclass

import pytest

from templates.checks import (
    CheckConfig,
    Code,
    Finding,
    Severity,
    check_all_caps,
    check_brand_name,
    check_data_loss,
    check_links,
    check_opt_out_language,
    check_prohibited_content,
    check_segments,
    check_spammy_punctuation,
    check_template,
    has_blockers,
    run_checks,
)

CONFIG = CheckConfig(brand_name="Acme", allowed_link_domains=("acme.co",))
FOOTER = "Acme: Reply STOP to opt out"


@dataclass(frozen=True)
class FakeAnalysis:
    encoding: str
    segments: int


def fake_analyze(text: str, smart_encoding: bool = False) -> FakeAnalysis:
    """GSM-7 sizes for the plain-ASCII bodies used here: 160 in one segment, else 153 a part."""
    return FakeAnalysis("GSM-7", 1 if len(text) <= 160 else -(-len(text) // 153))


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: Code) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, findings
    return matching[0]


# -- contract ----------------------------------------------------------------------------


def test_it_keeps_the_finding_codes_stable() -> None:
    assert {c.value for c in Code} == {
        "template_syntax_error",
        "unknown_token",
        "missing_opt_out_language",
        "missing_brand_name",
        "public_shortener",
        "link_domain_not_allowed",
        "insecure_link",
        "prohibited_content",
        "card_number",
        "ssn",
        "secret",
        "too_many_segments",
        "token_may_add_segment",
        "all_caps",
        "spammy_punctuation",
    }


def test_it_returns_frozen_findings_that_serialize_to_plain_values() -> None:
    finding = only(check_spammy_punctuation("Sale!!!", CONFIG), Code.SPAMMY_PUNCTUATION)

    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.code = "other"  # type: ignore[misc]
    assert finding.as_dict() == {
        "code": "spammy_punctuation",
        "severity": "warn",
        "message": finding.message,
        "matched": ["!!!"],
    }


def test_it_finds_nothing_in_a_clean_marketing_message() -> None:
    body = (
        "Acme: Hi {first_name|there}, 20% off today at https://acme.co/sale. "
        + "Reply STOP to opt out"
    )

    assert run_checks(body, CONFIG, analyze=fake_analyze) == []


def test_it_runs_every_check_in_a_stable_order_and_reports_blockers() -> None:
    body = "{foo} SSN 123-45-6789 at bit.ly/x!!!"

    findings = run_checks(body, CONFIG, analyze=fake_analyze)

    assert codes(findings) == [
        "unknown_token",
        "missing_opt_out_language",
        "missing_brand_name",
        "public_shortener",
        "ssn",
        "spammy_punctuation",
    ]
    assert has_blockers(findings)
    assert not has_blockers([f for f in findings if f.severity == Severity.WARN])


# -- template ----------------------------------------------------------------------------


def test_it_names_unknown_tokens() -> None:
    finding = only(check_template("Hi {frist_name} {attr.tier} {0}", CONFIG), Code.UNKNOWN_TOKEN)

    assert finding.severity == Severity.BLOCK
    assert finding.matched == ("frist_name", "0")


def test_it_reports_template_syntax_errors() -> None:
    assert codes(check_template("Hi {first_name", CONFIG)) == ["template_syntax_error"]
    assert check_template("Hi {first_name} {{literal}}", CONFIG) == []


# -- opt-out language --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Reply STOP to opt out",
        "reply stop to unsubscribe",
        "Text STOP to 12345 to leave",
        "Txt STOP to end",
        "Msg&data rates may apply. STOP to end",
        "Stop 2 quit",
        "STOP2END",
        "Reply 'STOP' to cancel",
        "Reply with STOP",
        "Reply END to cancel",
        "UNSUBSCRIBE to opt out",
        "Responde ALTO para cancelar",
        "BAJA para salir",
        "Envía STOP para cancelar",
    ],
)
def test_it_accepts_opt_out_instructions(body: str) -> None:
    assert check_opt_out_language(f"Acme: big sale. {body}", CONFIG) == []


@pytest.mark.parametrize(
    "body",
    [
        "Acme: big sale today",
        "Acme: we never stop saving you money",
        "Acme: don't stop now, reply to end of season sale",
        "Acme: un precio alto para ti",
        "Acme: reply end of day",
    ],
)
def test_it_blocks_marketing_without_opt_out_instructions(body: str) -> None:
    finding = only(check_opt_out_language(body, CONFIG), Code.MISSING_OPT_OUT_LANGUAGE)

    assert finding.severity == Severity.BLOCK


def test_it_does_not_require_opt_out_language_in_ongoing_informational_messages() -> None:
    config = dataclasses.replace(CONFIG, is_marketing_or_first_contact=False)

    assert check_opt_out_language("Acme: your order shipped", config) == []


# -- brand name --------------------------------------------------------------------------


def test_it_blocks_a_message_without_the_brand_name() -> None:
    finding = only(check_brand_name("Big sale today", CONFIG), Code.MISSING_BRAND_NAME)

    assert finding.severity == Severity.BLOCK
    assert "Acme" in finding.message


@pytest.mark.parametrize("body", ["ACME: sale", "sale at acme.", "Sale (Acme)"])
def test_it_finds_the_brand_name_in_any_case(body: str) -> None:
    assert check_brand_name(body, CONFIG) == []


@pytest.mark.parametrize("body", ["Acmeville sale", "Sale at NotAcme", "acme_co sale"])
def test_it_needs_the_brand_name_as_a_word(body: str) -> None:
    assert codes(check_brand_name(body, CONFIG)) == ["missing_brand_name"]


def test_it_accepts_a_brand_alias_and_flexible_spaces() -> None:
    config = CheckConfig(brand_name="Joe's Pizza", brand_aliases=("JP Slice",))

    assert check_brand_name("joe's  PIZZA: 2 for 1", config) == []
    assert check_brand_name("JP Slice: 2 for 1", config) == []
    assert codes(check_brand_name("Joe: 2 for 1", config)) == ["missing_brand_name"]


def test_it_skips_the_brand_check_without_a_brand_name() -> None:
    assert check_brand_name("Big sale today", CheckConfig()) == []


# -- links -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "https://bit.ly/3abc",
        "bit.ly/3abc",
        "HTTPS://TINYURL.COM/x",
        "t.co/abc",
        "goo.gl/maps/x",
        "https://ow.ly/x",
        "is.gd/x",
        "rebrand.ly/x",
        "cutt.ly/x",
        "shorturl.at/x",
        "rb.gy/x",
        "s.id/x",
        "t.ly/x",
    ],
)
def test_it_blocks_public_shorteners(link: str) -> None:
    findings = check_links(f"Acme deals: {link} today", CONFIG)

    assert codes(findings) in (["public_shortener"], ["public_shortener", "insecure_link"])
    assert findings[0].matched == (link,)
    assert findings[0].severity == Severity.BLOCK


def test_it_blocks_shorteners_even_when_listed_as_allowed() -> None:
    config = CheckConfig(allowed_link_domains=("bit.ly",))

    assert codes(check_links("https://bit.ly/x", config)) == ["public_shortener"]


def test_it_uses_a_configurable_shortener_list() -> None:
    config = CheckConfig(allowed_link_domains=("acme.co",), shorteners=("sho.rt",))

    assert codes(check_links("https://sho.rt/x", config)) == ["public_shortener"]
    assert codes(check_links("https://bit.ly/x", config)) == ["link_domain_not_allowed"]


@pytest.mark.parametrize(
    "body",
    [
        "https://acme.co/sale",
        "https://www.acme.co/sale?x=1#top",
        "https://shop.acme.co",
        "ACME.CO/sale",
        "https://acme.co/r/{attr.code}",
        "mail help@other.com",
        "Mr.Smith, e.g. 50% off, $4.99 at 3.30pm, v1.2",
    ],
)
def test_it_allows_branded_domains_and_ignores_things_that_are_not_links(body: str) -> None:
    assert check_links(body, CONFIG) == []


@pytest.mark.parametrize(
    ("body", "link"),
    [
        ("see https://other.com/x", "https://other.com/x"),
        ("see other.com", "other.com"),
        ("see acme.pizza/menu", "acme.pizza/menu"),
        ("see https://evilacme.co/x.", "https://evilacme.co/x"),
        ("see https://acme.co.evil.com/x", "https://acme.co.evil.com/x"),
        ("see https://acme.co@evil.com/x", "https://acme.co@evil.com/x"),
        ("see https://{attr.site}/x", "https://{attr.site}/x"),
    ],
)
def test_it_blocks_links_outside_the_allowed_domains(body: str, link: str) -> None:
    finding = only(check_links(body, CONFIG), Code.LINK_DOMAIN_NOT_ALLOWED)

    assert finding.severity == Severity.BLOCK
    assert finding.matched == (link,)


def test_it_blocks_every_link_when_no_domain_is_allowed() -> None:
    finding = only(check_links("https://acme.co", CheckConfig()), Code.LINK_DOMAIN_NOT_ALLOWED)

    assert "none configured" in finding.message


def test_it_warns_about_plain_http_links() -> None:
    finding = only(check_links("see http://acme.co/sale", CONFIG), Code.INSECURE_LINK)

    assert finding.severity == Severity.WARN
    assert finding.matched == ("http://acme.co/sale",)
    assert check_links("see https://acme.co/sale", CONFIG) == []


# -- prohibited content ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "category", "matched"),
    [
        ("Sexy deals inside", "sex", ("Sexy",)),
        ("Join the race war", "hate", ("race war",)),
        ("2-for-1 BEER and wine tonight", "alcohol", ("BEER", "wine")),
        ("Happy hour at 5", "alcohol", ("Happy hour",)),
        ("New handguns and AR 15 ammo in stock", "firearms", ("handguns", "AR 15", "ammo")),
        ("Vapes and e cigs 20% off", "tobacco", ("Vapes", "e cigs")),
        ("CBD gummies and delta-8", "cannabis", ("CBD", "delta-8")),
        ("Get a payday loan today", "high_risk_finance", ("payday loan",)),
        ("Invest in crypto now", "high_risk_finance", ("crypto",)),
        ("Debt relief that works", "high_risk_finance", ("Debt relief",)),
        ("Casino night: free bets", "gambling", ("Casino", "free bets")),
        (
            "Our partners will contact you with quotes",
            "lead_generation",
            ("Our partners will contact you",),
        ),
    ],
)
def test_it_blocks_prohibited_content_naming_the_words(
    body: str, category: str, matched: tuple[str, ...]
) -> None:
    finding = only(check_prohibited_content(body, CONFIG), Code.PROHIBITED_CONTENT)

    assert finding.severity == Severity.BLOCK
    assert finding.matched == matched
    assert category.replace("_", " ") in finding.message


@pytest.mark.parametrize(
    "body",
    [
        "Visit our Essex, Sussex and Middlesex stores",
        "Unisex sweaters on sale",
        "Potluck on Friday: bring a pot of chili",
        "Weed killer and glue guns 30% off",
        "Book one of our time slots. You bet!",
        "Nude lipstick is back",
        "Ginger ale and sake-free sushi",
        "Our forum: a rumor about the sextant",
    ],
)
def test_it_does_not_flag_innocent_words(body: str) -> None:
    assert check_prohibited_content(body, CONFIG) == []


def test_it_only_warns_for_age_gated_categories_in_an_age_gated_program() -> None:
    config = dataclasses.replace(CONFIG, age_gated=True)

    findings = check_prohibited_content("Wine tasting, cigars and CBD", config)

    assert [(f.severity, f.matched) for f in findings] == [
        (Severity.WARN, ("Wine",)),
        (Severity.WARN, ("cigars",)),
        (Severity.BLOCK, ("CBD",)),
    ]


def test_it_uses_a_configurable_term_list() -> None:
    config = CheckConfig(prohibited_terms={"weapons": ("nunchaku", "throwing star")})

    finding = only(
        check_prohibited_content("Nunchakus and throwing-stars, beer", config),
        Code.PROHIBITED_CONTENT,
    )

    assert finding.matched == ("Nunchakus", "throwing-stars")


# -- data-loss prevention ----------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",
        "3782 822463 10005",
        "6011 0009 9013 9424",
    ],
)
def test_it_blocks_card_numbers(number: str) -> None:
    finding = only(check_data_loss(f"Your card {number} exp 12/26", CONFIG), Code.CARD_NUMBER)

    assert finding.severity == Severity.BLOCK
    assert finding.matched == ("****" + number.replace(" ", "").replace("-", "")[-4:],)


def test_it_finds_a_card_number_followed_by_more_digits() -> None:
    findings = check_data_loss("Card 4111 1111 1111 1111 2026", CONFIG)

    assert only(findings, Code.CARD_NUMBER).matched == ("****1111",)


@pytest.mark.parametrize(
    "body",
    [
        "Card 4111 1111 1111 1112",  # fails Luhn
        "Call +1 555 123 4567 or (555) 123-4567 or 555-123-4567",
        "Call +49 151 1234 5678",
        "Order #1234567890123456 shipped",  # fails Luhn
        "Ref 0000 0000 0000 0000",  # Luhn-valid, but no card starts with 0
        "Tracking 12345678901234567890123",
    ],
)
def test_it_does_not_flag_phone_and_order_numbers_as_cards(body: str) -> None:
    assert Code.CARD_NUMBER not in codes(check_data_loss(body, CONFIG))


@pytest.mark.parametrize("ssn", ["123-45-6789", "123 45 6789", "078-05-1120"])
def test_it_blocks_social_security_numbers(ssn: str) -> None:
    finding = only(check_data_loss(f"Your SSN is {ssn}.", CONFIG), Code.SSN)

    assert finding.matched == ("***-**-" + ssn[-4:],)


@pytest.mark.parametrize(
    "body",
    [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45 6789",
        "123456789",
        "555-123-4567",
        "2024-11-24",
    ],
)
def test_it_ignores_numbers_that_cannot_be_ssns(body: str) -> None:
    assert check_data_loss(f"Ref {body}", CONFIG) == []


@pytest.mark.parametrize(
    ("body", "label"),
    [
        ("Your password: hunter2", "password"),
        ("login pwd=Sup3r!", "password"),
        ("Temp password: {attr.temp_password}", "password"),
        ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "Stripe secret key"),
        ("AKIAIOSFODNN7EXAMPLE", "AWS access key"),
        ("ghp_" + "a" * 36, "GitHub token"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
        ("api_key=abcdef0123456789abcdef", "API key"),
    ],
)
def test_it_blocks_secrets_without_echoing_them(body: str, label: str) -> None:
    finding = only(check_data_loss(body, CONFIG), Code.SECRET)

    assert finding.matched[0].startswith(label + ": ")
    assert "hunter2" not in finding.matched[0]
    assert "4eC39HqLyjWDarjtT1zdp7dc" not in finding.matched[0]


@pytest.mark.parametrize(
    "body",
    [
        "Forgot your password? Reset it at https://acme.co/reset",
        "Reset password: https://acme.co/reset",
        "Your verification code is 123456",
        "pk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "AKIA is not a key",
    ],
)
def test_it_does_not_flag_ordinary_account_messages_as_secrets(body: str) -> None:
    assert check_data_loss(body, CONFIG) == []


# -- segments ----------------------------------------------------------------------------


def test_it_warns_when_the_body_is_over_the_segment_limit() -> None:
    body = "Acme " + "x" * 320  # 325 chars: 3 GSM-7 segments

    finding = only(check_segments(body, CONFIG, analyze=fake_analyze), Code.TOO_MANY_SEGMENTS)

    assert finding.severity == Severity.WARN
    assert finding.message.startswith("3 segments (GSM-7)")
    assert check_segments("Acme " + "x" * 250, CONFIG, analyze=fake_analyze) == []
    assert codes(
        check_segments(
            "Acme " + "x" * 250, dataclasses.replace(CONFIG, max_segments=1), analyze=fake_analyze
        )
    ) == ["too_many_segments"]


def test_it_counts_segments_with_tokens_at_their_shortest() -> None:
    # 320 characters of default text: the body is never shorter than that.
    body = "Acme {first_name|" + "y" * 320 + "}"

    assert codes(check_segments(body, CONFIG, analyze=fake_analyze)) == ["too_many_segments"]


def test_it_warns_when_a_long_token_value_adds_a_segment() -> None:
    body = "x" * 150 + " {first_name}"  # 151 chars empty, 163 with a 12-char first name

    finding = only(check_segments(body, CONFIG, analyze=fake_analyze), Code.TOKEN_MAY_ADD_SEGMENT)

    assert finding.severity == Severity.WARN
    assert finding.matched == ("first_name",)
    assert "2 segments instead of 1" in finding.message


def test_it_uses_configured_and_default_token_lengths() -> None:
    short_names = dataclasses.replace(CONFIG, token_max_lengths={"first_name": 5})
    assert check_segments("x" * 150 + " {first_name}", short_names, analyze=fake_analyze) == []

    body = "x" * 145 + " {attr.nickname}"  # any attr defaults to 20 characters
    assert codes(check_segments(body, CONFIG, analyze=fake_analyze)) == ["token_may_add_segment"]
    small_default = dataclasses.replace(CONFIG, default_token_length=10)
    assert check_segments(body, small_default, analyze=fake_analyze) == []


def test_it_passes_smart_encoding_to_the_analyzer() -> None:
    seen: list[bool] = []

    def analyze(text: str, smart_encoding: bool = False) -> FakeAnalysis:
        seen.append(smart_encoding)
        return fake_analyze(text)

    check_segments(
        "Acme {first_name}", dataclasses.replace(CONFIG, smart_encoding=True), analyze=analyze
    )

    assert seen == [True, True]


def test_it_skips_segment_checks_for_a_body_that_does_not_compile() -> None:
    assert check_segments("{" + "x" * 400, CONFIG, analyze=fake_analyze) == []


def test_it_counts_segments_with_the_encoding_module() -> None:
    pytest.importorskip("templates.encoding")
    body = "Acme " + "x" * 315 + "😜"  # one emoji makes the whole body UCS-2: 322 units

    findings = check_segments(body, CONFIG)

    assert codes(findings) == ["too_many_segments"]
    assert findings[0].message.startswith("5 segments")


# -- style -------------------------------------------------------------------------------


def test_it_warns_about_shouting() -> None:
    body = "ACME FLASH SALE 50% OFF EVERYTHING TODAY ONLY at acme.co. Reply STOP to opt out"

    finding = only(check_all_caps(body, CONFIG), Code.ALL_CAPS)

    assert finding.severity == Severity.WARN
    assert finding.matched[:3] == ("FLASH", "SALE", "OFF")
    assert "ACME" not in finding.matched


@pytest.mark.parametrize(
    "body",
    [
        "Acme: Flash sale, 50% off everything today only. Reply STOP to opt out",
        "SALE NOW ON",  # too short to judge
        "ACME: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT or OPTOUT to leave; "
        "HELP or INFO for help",
        "Hi {FIRST_NAME_OF_THE_CUSTOMER_HERE_PLEASE}, see our new sale at "
        "https://acme.co/SALE-TODAY-ONLY-NOW-BIG-DEAL-FOR-EVERYONE today",
    ],
)
def test_it_does_not_count_normal_capitals_keywords_tokens_or_links_as_shouting(
    body: str,
) -> None:
    assert check_all_caps(body, CONFIG) == []


@pytest.mark.parametrize(
    ("body", "matched"),
    [
        ("Sale!!!", ("!!!",)),
        ("Really??? Yes!!!!", ("???", "!!!!")),
        ("Win?!?", ("?!?",)),
        ("Save $$$ now", ("$$$",)),
    ],
)
def test_it_warns_about_spammy_punctuation(body: str, matched: tuple[str, ...]) -> None:
    finding = only(check_spammy_punctuation(body, CONFIG), Code.SPAMMY_PUNCTUATION)

    assert finding.severity == Severity.WARN
    assert finding.matched == matched


@pytest.mark.parametrize("body", ["Sale!", "Sale!! Really?", "Only $5 today", "Wait... what?"])
def test_it_allows_ordinary_punctuation(body: str) -> None:
    assert check_spammy_punctuation(body, CONFIG) == []
