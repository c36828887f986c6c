from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from messaging import counters

        from .flows import flow_run_counts

        if flow_run_counts not in counters.REBUILD_EXTRAS:
            counters.REBUILD_EXTRAS.append(flow_run_counts)
