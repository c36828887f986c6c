from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # Messaging asks campaigns two things without importing it (the layers run one way):
        # may a 10DLC sender carry this message (its registration), and is a campaign done.
        # The daily counters' rebuild also counts what only campaigns knows (flow runs,
        # campaign targets).
        from messaging import counters
        from messaging.holds import sender_hold_register
        from messaging.tasks import campaign_batch_hooks

        from .flows import campaign_targeted_counts, flow_run_counts
        from .registrations.gate import unregistered_sender_hold
        from .services import campaign_complete_if_done

        sender_hold_register(unregistered_sender_hold)
        if campaign_complete_if_done not in campaign_batch_hooks:
            campaign_batch_hooks.append(campaign_complete_if_done)
        for extra in (flow_run_counts, campaign_targeted_counts):
            if extra not in counters.REBUILD_EXTRAS:
                counters.REBUILD_EXTRAS.append(extra)
