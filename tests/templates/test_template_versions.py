"""Template versions: frozen once submitted, four-eyes review, a history row per transition."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction

from templates.models import TemplateVersion, TemplateVersionEvent, TransitionError, VersionStatus
from tests.factories import create_template, create_user, create_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def author():
    return create_user("mia")


@pytest.fixture
def reviewer():
    return create_user("carl")


def test_it_numbers_versions_per_template(author):
    template = create_template(owner=author)
    assert [create_version(template).number for _ in range(3)] == [1, 2, 3]


def test_it_walks_the_lifecycle_with_a_history_row_per_transition(author, reviewer):
    version = create_version(author=author)
    version.submit(by=author)
    assert version.status == VersionStatus.PENDING_REVIEW and version.submitted_at
    version.approve(by=reviewer, note="ok")
    assert version.status == VersionStatus.APPROVED
    assert (version.reviewer, version.review_note) == (reviewer, "ok")
    version.retire(by=reviewer)
    assert version.status == VersionStatus.RETIRED
    steps = list(
        TemplateVersionEvent.objects.filter(version=version)
        .order_by("id")
        .values_list("from_status", "to_status", "by__username")
    )
    assert steps == [
        ("draft", "pending_review", "mia"),
        ("pending_review", "approved", "carl"),
        ("approved", "retired", "carl"),
    ]


def test_the_author_can_never_review_their_own_version(author):
    version = create_version(author=author)
    version.submit(by=author)
    with pytest.raises(TransitionError, match="someone else"):
        version.approve(by=author)
    with pytest.raises(TransitionError, match="someone else"):
        version.reject(by=author, note="no")
    version.refresh_from_db()
    assert version.status == VersionStatus.PENDING_REVIEW


def test_the_database_refuses_a_reviewer_who_is_the_author(author):
    version = create_version(author=author)
    with pytest.raises(IntegrityError), transaction.atomic():
        TemplateVersion.objects.filter(pk=version.pk).update(
            status="approved", reviewer=author, reviewed_at=version.created_at
        )


def test_a_rejection_needs_a_reason(author, reviewer):
    version = create_version(author=author)
    version.submit(by=author)
    with pytest.raises(TransitionError):
        version.reject(by=reviewer, note="  ")
    version.reject(by=reviewer, note="Link goes to the wrong page")
    assert version.status == VersionStatus.REJECTED


def test_invalid_transitions_are_refused(author, reviewer):
    version = create_version(author=author)
    with pytest.raises(TransitionError, match="draft"):
        version.approve(by=reviewer)
    with pytest.raises(TransitionError):
        version.retire(by=reviewer)
    version.submit(by=author)
    with pytest.raises(TransitionError):
        version.submit(by=author)


def test_approving_a_new_version_retires_the_previous_one(author, reviewer):
    template = create_template(owner=author)
    first = create_version(template, author=author)
    first.submit(by=author)
    first.approve(by=reviewer)
    second = first.new_draft(by=author, body=first.body + " Ends Sunday.")
    second.submit(by=author)
    second.approve(by=reviewer)
    first.refresh_from_db()
    assert first.status == VersionStatus.RETIRED
    assert template.approved_version == second


def test_a_version_with_blocking_findings_cannot_be_approved(author, reviewer):
    version = create_version(author=author, body="Big sale at https://bit.ly/x")
    # Submitting it is refused (below); one already pending, from before that rule, still
    # cannot be approved.
    TemplateVersion.objects.filter(pk=version.pk).update(status=VersionStatus.PENDING_REVIEW)
    version.refresh_from_db()
    with pytest.raises(TransitionError, match="blocking"):
        version.approve(by=reviewer)


def test_it_refuses_to_submit_a_version_with_a_blocking_finding_and_names_it(author):
    version = create_version(author=author, body="Big sale at https://bit.ly/x")
    with pytest.raises(TransitionError) as refused:
        version.submit(by=author)
    assert "public_shortener" in str(refused.value)
    assert "missing_opt_out_language" in str(refused.value)
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT and not version.events.exists()


def test_a_submitted_body_is_frozen_in_the_model(author):
    version = create_version(author=author)
    version.submit(by=author)
    version.body = "changed"
    with pytest.raises(TransitionError, match="frozen"):
        version.save()
    with pytest.raises(ValidationError):
        version.full_clean()


def test_a_submitted_body_is_frozen_in_the_database(author):
    version = create_version(author=author)
    version.submit(by=author)
    with (
        pytest.raises(DatabaseError, match="frozen"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE templates_templateversion SET body = 'changed' WHERE id = %s", [version.pk]
        )
    version.refresh_from_db()
    assert version.body != "changed"


def test_a_draft_can_still_be_edited(author):
    version = create_version(author=author)
    version.body = version.body + " Today only."
    version.full_clean()
    version.save()
    assert TemplateVersion.objects.get(pk=version.pk).body.endswith("Today only.")


def test_unknown_tokens_are_rejected_on_save_naming_each_one(author):
    template = create_template(owner=author)
    version = TemplateVersion(
        template=template, author=author, body="Hi {firstname}, your {coupon} and {first_name}"
    )
    with pytest.raises(ValidationError) as caught:
        version.full_clean()
    message = " ".join(caught.value.message_dict["body"])
    assert "{firstname}" in message and "{coupon}" in message
    assert "{first_name}" not in message.split("Known")[0]


def test_it_records_encoding_and_segments(author):
    version = create_version(author=author, body="Acme: ça va? Reply STOP to opt out")
    assert (version.encoding, version.segments) == ("UCS-2", 1)
