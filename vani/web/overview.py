"""The overview page: activity per provider, rejections, deliveries, events per hour."""
from __future__ import annotations

from flask import render_template, request

from vani.dashboard import overview as stats
from vani.dashboard.chart import events_chart
from vani.dashboard.deliveries import delivery_summary
from vani.dashboard.urls import provider_urls
from vani.web.blueprint import bp


@bp.get("/")
def overview():
    context = dict(
        providers=stats.provider_stats(),
        chart=events_chart(stats.hourly_buckets(48)),
        deliveries=delivery_summary(),
        dead=stats.dead_letters(),
        urls=provider_urls(),
    )
    template = "overview/_live.html" if request.args.get("partial") else "overview/page.html"
    return render_template(template, **context)
