"""A program with a sent two-variant campaign, a flow and senders, as counters only."""

from datetime import timedelta

from django.utils import timezone

from messaging.counters import bump
from tests.campaigns.flow_helpers import make_flow
from tests.factories import create_campaign, create_program, create_sender


def reporting_data():
    """Today: variant A 1,000 sent / 950 delivered / 30 human clicks; B 1,000 / 940 / 80.
    The previous weeks: the same program sent 500 a day; the sender delivered 97% of it."""
    today = timezone.now().date()
    program = create_program("offers")
    campaign = create_campaign(
        program,
        name="Spring sale",
        status="completed",
        launched_at=timezone.now(),
        bodies=["Acme: spring sale. Reply STOP to opt out.",
                "Acme: 20% off all spring. Reply STOP to opt out."],
        excluded={"opted_out": 40, "suppressed": 10},
    )  # fmt: skip
    sender = campaign.senders.get()
    quiet = create_sender(program, name="Backup line")
    a, b = campaign.variants.order_by("label")
    for variant, delivered, clicks in ((a, 950, 30), (b, 940, 80)):
        dims = {
            "program": program.pk,
            "campaign": campaign.pk,
            "variant": variant.pk,
            "template_version": variant.template_version_id,
            "sender": sender.pk,
        }
        bump(day=today, dims=dims, sent=1000, segments=1000, cost_micros=8_300_000,
             delivered=delivered, undelivered=1000 - delivered - 10, failed=10,
             **{"error:30007": 1000 - delivered - 10, "error:30003": 10},
             opt_outs=5, replies=12, clicks_human=clicks, clicks_bot=7)  # fmt: skip
    bump(day=today, dims={"campaign": campaign.pk}, targeted=2050)
    for back in range(1, 15):
        day = today - timedelta(days=back)
        dims = {"program": program.pk, "sender": sender.pk}
        bump(day=day, dims=dims, sent=500, delivered=485, undelivered=15,
             **{"error:30003": 15}, cost_micros=4_150_000)  # fmt: skip
    flow = make_flow(program, name="Appointment reminder")
    bump(day=today, dims={"flow": flow.pk}, runs=20, run_queued=17,
         **{"run_skipped:too_late": 2, "run_blocked:opted_out": 1})  # fmt: skip
    # Its messages, counted under the flow at hand-off and delivery.
    bump(day=today, dims={"flow": flow.pk}, sent=16, delivered=15, clicks_human=3)
    return {"program": program, "campaign": campaign, "sender": sender, "quiet": quiet,
            "flow": flow}  # fmt: skip
