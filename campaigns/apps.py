from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from messaging import counters

        from .flows import campaign_targeted_counts, flow_run_counts

        for extra in (flow_run_counts, campaign_targeted_counts):
            if extra not in counters.REBUILD_EXTRAS:
                counters.REBUILD_EXTRAS.append(extra)
