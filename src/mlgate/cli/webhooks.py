"""``mlgate webhooks …``: subscriptions, delivery state, and the deliverer job."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from mlgate.approvals import outbox
from mlgate.approvals.mail import SmtpNotifier, mail_pending
from mlgate.approvals.schemas import DeliveryState, WebhookCreate
from mlgate.approvals.service import MAX_PAGE
from mlgate.cli.args import validated
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.clock import utcnow
from mlgate.errors import Forbidden, Invalid
from mlgate.netaddr import Allowlist

app = typer.Typer(help="Webhook subscriptions and deliveries.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _admin(ctx: typer.Context) -> None:
    if not state(ctx).principal().is_admin:
        raise Forbidden("managing webhooks needs the 'admin' scope")


@app.command("create")
def create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="HTTP(S) URL to POST events to.")],
    event: Annotated[
        list[str] | None, typer.Option("--event", help="Event type (approval.*); repeatable.")
    ] = None,
    description: Annotated[str, typer.Option(help="What the subscription is for.")] = "",
    as_json: AsJson = False,
) -> None:
    """Subscribe URL to events; prints the signing secret once."""
    cli = state(ctx)
    webhook_in = validated(
        WebhookCreate, {"url": url, "events": event or [], "description": description}
    )
    actor = cli.principal()
    if not actor.is_admin:
        raise Forbidden("managing webhooks needs the 'admin' scope")
    with cli.session() as session:
        created = outbox.create_subscription(
            session,
            server_secret=cli.runtime.secret,
            webhook_in=webhook_in,
            actor=actor,
            allowed=Allowlist.parse(cli.runtime.settings.webhook_allowed_hosts),
        )
    secret = created.signing_secret.get_secret_value()
    if as_json:
        body = created.model_dump(mode="json")
        body["signing_secret"] = secret
        print_json(body)
        return
    console.print(f"created webhook {created.id} -> {created.url}", markup=False, highlight=False)
    console.print(f"signing secret (shown once): {secret}", markup=False, highlight=False)


@app.command("list")
def list_webhooks(ctx: typer.Context, as_json: AsJson = False) -> None:
    """All subscriptions."""
    _admin(ctx)
    with state(ctx).session() as session:
        items = outbox.list_subscriptions(session)
    if as_json:
        print_json(items)
        return
    print_table(
        "webhooks",
        ["id", "url", "events", "active", "by"],
        [(w.id, w.url, " ".join(w.events) or "all", w.active, w.created_by) for w in items],
    )


@app.command("deactivate")
def deactivate(
    ctx: typer.Context,
    subscription_id: Annotated[str, typer.Argument(help="Webhook id, as webhooks list shows it.")],
) -> None:
    """Stop sending to a subscription and cancel its pending deliveries."""
    cli = state(ctx)
    actor = cli.principal()
    if not actor.is_admin:
        raise Forbidden("managing webhooks needs the 'admin' scope")
    with cli.session() as session:
        outbox.deactivate_subscription(session, subscription_id=subscription_id, actor=actor)
    console.print(f"deactivated webhook {subscription_id}", markup=False)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Option(help="Only this subscription.")] = None,
    state_: Annotated[
        DeliveryState | None, typer.Option("--state", help="Only deliveries in this state.")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(min=1, max=MAX_PAGE, help="Most deliveries to show, newest first."),
    ] = 100,
    as_json: AsJson = False,
) -> None:
    """Delivery state: attempts, last status, next attempt."""
    _admin(ctx)
    with state(ctx).session() as session:
        items = outbox.list_deliveries(
            session, subscription_id=subscription, state=state_, limit=limit
        )
    if as_json:
        print_json(items)
        return
    print_table(
        "deliveries",
        ["id", "event", "state", "attempts", "last status", "next attempt", "error"],
        [
            (
                d.id,
                d.event_type,
                d.state,
                d.attempts,
                d.last_status,
                d.next_attempt_at,
                d.last_error,
            )
            for d in items
        ],
    )


@app.command("retry")
def retry(
    ctx: typer.Context,
    delivery_id: Annotated[
        str, typer.Argument(help="Delivery id, as webhooks deliveries shows it.")
    ],
) -> None:
    """Give a dead delivery a fresh set of attempts."""
    cli = state(ctx)
    actor = cli.principal()
    if not actor.is_admin:
        raise Forbidden("managing webhooks needs the 'admin' scope")
    with cli.session() as session:
        outbox.retry_delivery(session, delivery_id=delivery_id, actor=actor)
    console.print(f"delivery {delivery_id} is due again", markup=False)


@app.command("deliver")
def deliver(
    ctx: typer.Context,
    watch: Annotated[bool, typer.Option(help="Keep delivering until interrupted.")] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, max=86400, help="Seconds between rounds with --watch.")
    ] = 2.0,
    smtp_host: Annotated[
        str | None, typer.Option(help="Also mail each event through this SMTP server.")
    ] = None,
    smtp_port: Annotated[int, typer.Option(help="SMTP port.")] = 25,
    mail_from: Annotated[str, typer.Option(help="Sender of the mails.")] = "mlgate@localhost",
    mail_to: Annotated[
        list[str] | None, typer.Option("--mail-to", help="Recipient; repeatable.")
    ] = None,
    skip_mail_backlog: Annotated[
        bool, typer.Option(help="Do not mail events older than this run (first use of mail).")
    ] = False,
) -> None:
    """Send the deliveries that are due (once, or every INTERVAL seconds with --watch)."""
    cli = state(ctx)
    notifier = None
    if not smtp_host and (mail_to or skip_mail_backlog):
        option = "--mail-to" if mail_to else "--skip-mail-backlog"
        raise Invalid.field(
            "smtp_host", f"{option} needs --smtp-host: nothing is mailed without it"
        )
    if smtp_host:
        if not mail_to:
            raise Invalid.field("mail_to", "give at least one --mail-to with --smtp-host")
        notifier = SmtpNotifier(
            host=smtp_host, port=smtp_port, sender=mail_from, recipients=tuple(mail_to)
        )
    since = utcnow() if skip_mail_backlog else None
    allowed = Allowlist.parse(cli.runtime.settings.webhook_allowed_hosts)
    stop = threading.Event()
    while True:
        report = outbox.deliver_due(
            cli.runtime.db, server_secret=cli.runtime.secret, allowed=allowed
        )
        mailed = mail_pending(cli.runtime.db, notifier, since=since) if notifier is not None else 0
        if report.attempted or mailed or not watch:
            console.print(
                f"attempted {report.attempted}: delivered {report.delivered}, "
                f"will retry {report.failed}, dead {report.dead}; mailed {mailed}"
            )
        if not watch:
            return
        stop.wait(interval)
