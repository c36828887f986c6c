from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # Messaging asks campaigns without importing it (the layers run one way): may a 10DLC
        # sender carry this message (its registration); after each batch, is a campaign done,
        # then does one still sending need pausing (its incident check); and is this reply a
        # flow's success. Completion goes first: a campaign the batch finished has nothing left
        # to pause, and pausing it would only leave it to be resumed into a send that never
        # completes. The daily counters' rebuild also counts what only campaigns knows (flow
        # runs, campaign targets).
        from messaging import counters
        from messaging.holds import sender_hold_register
        from messaging.inbound import reply_hooks
        from messaging.tasks import campaign_batch_hooks

        from .flows import campaign_targeted_counts, flow_run_counts, flow_success_reply
        from .incidents import incident_check_after_batch
        from .registrations.gate import unregistered_sender_hold
        from .services import campaign_complete_if_done

        sender_hold_register(unregistered_sender_hold)
        for hook in (campaign_complete_if_done, incident_check_after_batch):
            if hook not in campaign_batch_hooks:
                campaign_batch_hooks.append(hook)
        if flow_success_reply not in reply_hooks:
            reply_hooks.append(flow_success_reply)
        for extra in (flow_run_counts, campaign_targeted_counts):
            if extra not in counters.REBUILD_EXTRAS:
                counters.REBUILD_EXTRAS.append(extra)
