"""Each snapshot validation rule: a snapshot that breaks it, and the clean one that passes."""

from __future__ import annotations

import pytest

from campaigns.registrations.models import (
    Registration,
    RegistrationError,
    RegistrationSnapshot,
)
from campaigns.registrations.validation import validate_snapshot
from tests.campaigns.registration_helpers import (
    SAMPLE_RESTOCK,
    SAMPLE_SALE,
    clean_content,
    create_brand,
    join_url,
)
from tests.factories import create_contact, create_program, create_user, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def registration():
    program = create_program("offers", join_keywords=["JOIN"])
    opt_in(create_contact(), program, method="web_form")
    registration = Registration.objects.create(kind="10dlc", name="Offers", brand=create_brand())
    registration.programs.add(program)
    return registration


def snapshot(registration, **changes) -> RegistrationSnapshot:
    program = registration.programs.get()
    return RegistrationSnapshot(registration=registration, **clean_content(program, **changes))


def problem_codes(registration, **changes) -> set[str]:
    return {p.code for p in validate_snapshot(snapshot(registration, **changes))}


def test_it_finds_nothing_wrong_with_the_clean_snapshot(registration):
    assert problem_codes(registration) == set()


NO_OPT_OUT = "Acme: [first name], 20% off this weekend at https://acme.example/sale today"
BROKEN = [
    ("description.length", {"description": "Too short."}),
    ("description.length", {"description": "x" * 4097}),
    ("message_flow.length", {"message_flow": "Web form."}),
    ("message_samples.count", {"message_samples": [SAMPLE_SALE]}),
    ("message_samples.count", {"message_samples": [SAMPLE_SALE] * 6}),
    ("message_samples.length", {"message_samples": [SAMPLE_SALE, "Acme: hi STOP"]}),
    ("message_samples.length", {"message_samples": [SAMPLE_SALE, "Acme STOP " + "x" * 1020]}),
    (
        "message_samples.brand_name",
        {"message_samples": [SAMPLE_SALE, SAMPLE_RESTOCK.replace("Acme: ", "")]},
    ),
    ("message_samples.opt_out", {"message_samples": [NO_OPT_OUT, NO_OPT_OUT + "!"]}),
    (
        "message_samples.unbracketed_field",
        {"message_samples": [SAMPLE_SALE.replace("[first name]", "{first_name}"), SAMPLE_SALE]},
    ),
    (
        "message_samples.undeclared_link",
        {"has_embedded_links": False},
    ),
    (
        "has_embedded_links.no_sample",
        {
            "message_samples": [
                "Acme: [first name], 20% off in store this weekend. Reply STOP to opt out",
                "Acme: [first name], tents are back in stock. Reply STOP to opt out",
            ]
        },
    ),
    (
        "message_samples.undeclared_phone",
        {"message_samples": [SAMPLE_SALE, SAMPLE_RESTOCK + " Call (415) 555-0199"]},
    ),
    ("has_embedded_phone.no_sample", {"has_embedded_phone": True}),
    ("sub_use_cases.count", {"use_case": "MIXED", "sub_use_cases": ["MARKETING"]}),
    ("opt_in_message.length", {"opt_in_message": "Acme"}),
    (
        "opt_in_message.program_name",
        {
            "opt_in_message": "You are in. Msg frequency varies. Msg & data rates may apply. "
            "Reply HELP for help, STOP to cancel."
        },
    ),
    (
        "opt_in_message.frequency",
        {
            "opt_in_message": "Acme Offers: you are in. Msg & data rates may apply. "
            "Reply HELP for help, STOP to cancel."
        },
    ),
    (
        "opt_in_message.rates",
        {
            "opt_in_message": "Acme Offers: you are in. Msg frequency varies. "
            "Reply HELP for help, STOP to cancel."
        },
    ),
    (
        "opt_in_message.help",
        {
            "opt_in_message": "Acme Offers: you are in. Msg frequency varies. "
            "Msg & data rates may apply. Reply STOP to cancel."
        },
    ),
    (
        "opt_in_message.stop",
        {
            "opt_in_message": "Acme Offers: you are in. Msg frequency varies. "
            "Msg & data rates may apply. Reply HELP for help."
        },
    ),
    ("opt_out_message.length", {"opt_out_message": "Bye"}),
    (
        "help_message.support_contact",
        {"help_message": "Acme: we are here to help you. Reply STOP to cancel."},
    ),
    ("help_message.length", {"help_message": "x" * 321}),
    ("privacy_policy_url.required", {"privacy_policy_url": ""}),
]


@pytest.mark.parametrize(("code", "changes"), BROKEN, ids=[f"{c}-{i}" for i, (c, _) in
                                                          enumerate(BROKEN)])  # fmt: skip
def test_it_reports_each_broken_rule_by_its_code(registration, code, changes):
    assert code in problem_codes(registration, **changes)


def test_a_message_flow_must_name_every_opt_in_method_the_ledger_shows(registration):
    program = registration.programs.get()
    flow = f"Customers opt in on the web form at {join_url(program)} next to the disclosure."
    assert "message_flow.opt_in_method" not in problem_codes(registration, message_flow=flow)

    opt_in(create_contact(), program, method="keyword", source="JOIN to +18335550100")

    assert "message_flow.opt_in_method" in problem_codes(registration, message_flow=flow)
    named = flow + " Or by texting JOIN to our number."
    assert "message_flow.opt_in_method" not in problem_codes(registration, message_flow=named)


def test_a_message_flow_must_link_the_hosted_form_or_the_disclosure_page(registration):
    unlinked = "Customers opt in on the web form on our site by ticking the box, or by texting."
    assert "message_flow.form_link" in problem_codes(registration, message_flow=unlinked)
    program = registration.programs.get()
    program.disclosures.update(page_url="https://acme.example/sms-terms")
    linked = unlinked + " The disclosure is at https://acme.example/sms-terms."
    assert "message_flow.form_link" not in problem_codes(registration, message_flow=linked)


def test_a_mixed_campaign_with_enough_sub_use_cases_passes(registration):
    codes = problem_codes(
        registration, use_case="MIXED", sub_use_cases=["MARKETING", "ACCOUNT_NOTIFICATION"]
    )
    assert codes == set()


def test_a_transactional_campaign_needs_no_privacy_policy(registration):
    codes = problem_codes(registration, use_case="ACCOUNT_NOTIFICATION", privacy_policy_url="")
    assert "privacy_policy_url.required" not in codes


def test_each_problem_names_its_field(registration):
    problems = validate_snapshot(snapshot(registration, has_embedded_links=False))
    assert {p.field for p in problems} == {"message_samples[0]", "message_samples[1]"}


def test_saving_a_draft_stores_its_problems_and_submitting_refuses_rejections(registration):
    user = create_user("carl")
    draft = snapshot(registration, privacy_policy_url="")
    draft.created_by = user
    draft.save()
    assert [f["code"] for f in draft.findings] == ["privacy_policy_url.required"]

    with pytest.raises(RegistrationError, match=r"privacy_policy_url\.required"):
        draft.submit(by=user)
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.submitted_at is None


def test_a_submitted_snapshot_is_frozen_and_an_edit_is_a_new_draft(registration):
    user = create_user("carl")
    first = snapshot(registration)
    first.created_by = user
    first.save()
    first.submit(by=user)

    first.description = "A different description of the campaign, long enough to pass."
    with pytest.raises(RegistrationError, match="new draft"):
        first.save()

    draft = registration.new_draft(by=user, description="Now a new description, also long.")
    assert (draft.number, draft.status) == (2, "draft")
    assert draft.message_samples == first.message_samples
    first.refresh_from_db()
    assert first.description != draft.description
