from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # Messaging asks campaigns three things without importing it (the layers run one way):
        # may a 10DLC sender carry this message (its registration), is a campaign done, and
        # is this reply a flow's success. The daily counters' rebuild also counts what only
        # campaigns knows (flow runs, campaign targets).
        from messaging import counters
        from messaging.holds import sender_hold_register
        from messaging.inbound import reply_hooks
        from messaging.tasks import campaign_batch_hooks

        from .flows import campaign_targeted_counts, flow_run_counts, flow_success_reply
        from .registrations.gate import unregistered_sender_hold
        from .services import campaign_complete_if_done

        sender_hold_register(unregistered_sender_hold)
        if campaign_complete_if_done not in campaign_batch_hooks:
            campaign_batch_hooks.append(campaign_complete_if_done)
        if flow_success_reply not in reply_hooks:
            reply_hooks.append(flow_success_reply)
        for extra in (flow_run_counts, campaign_targeted_counts):
            if extra not in counters.REBUILD_EXTRAS:
                counters.REBUILD_EXTRAS.append(extra)
