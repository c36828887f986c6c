from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # Messaging asks campaigns two things without importing it (the layers run one way):
        # may a 10DLC sender carry this message (its registration), and is a campaign done.
        from messaging.holds import sender_hold_register
        from messaging.tasks import campaign_batch_hooks

        from .registrations.gate import unregistered_sender_hold
        from .services import campaign_complete_if_done

        sender_hold_register(unregistered_sender_hold)
        if campaign_complete_if_done not in campaign_batch_hooks:
            campaign_batch_hooks.append(campaign_complete_if_done)
