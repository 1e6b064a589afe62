"""The Teams card as a person sees it: the official Adaptive Cards renderer in headless Chromium.

npm ``adaptivecards`` (the renderer Microsoft publishes for web hosts) with markdown through
``markdown-it``, both pinned in package.json and loaded from ``node_modules``, render the card that
:func:`shared.notify.render.teams_card` builds into a page of a chat card's width. The report says
what the renderer complained about while parsing and validating the card, and, for every button,
whether its title fits (``scrollWidth`` of the title against its ``clientWidth``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = (
    ROOT / "node_modules" / "markdown-it" / "dist" / "markdown-it.min.js",
    ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js",
)
STYLESHEET = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.css"
CHAT_CARD_WIDTH = 480
"""CSS pixels: a card in a Teams chat on a narrow window or a tablet."""

_HOST_CONFIG = {"fontFamily": "'Segoe UI', 'Helvetica Neue', sans-serif"}

_RENDER = """
([card, hostConfig]) => {
  const md = window.markdownit();
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
    result.outputHtml = md.render(text);
    result.didProcess = true;
  };
  const adaptive = new AdaptiveCards.AdaptiveCard();
  adaptive.hostConfig = new AdaptiveCards.HostConfig(hostConfig);
  const context = new AdaptiveCards.SerializationContext();
  adaptive.parse(card, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) {
    const e = context.getEventAt(i);
    events.push({phase: String(e.phase), event: String(e.event), message: e.message});
  }
  for (const e of adaptive.validateProperties().validationEvents) {
    events.push({phase: "validation", event: String(e.event), message: e.message});
  }
  const host = document.getElementById("card");
  host.replaceChildren(adaptive.render());
  const buttons = [...host.querySelectorAll("button.ac-pushButton")].map((b) => {
    const title = b.querySelector(".ac-pushButton-title, div") || b;
    const r = b.getBoundingClientRect();
    return {
      title: b.getAttribute("aria-label") || b.textContent.trim(),
      shown: title.textContent.trim(),
      scrollWidth: title.scrollWidth,
      clientWidth: title.clientWidth,
      left: r.left, right: r.right,
    };
  });
  const links = [...host.querySelectorAll("a[href]")].map((a) => ({text: a.textContent, href: a.href}));
  return {events, buttons, links, width: host.getBoundingClientRect().width, text: host.innerText};
}
"""


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    shown: str
    scroll_width: int
    client_width: int
    left: float
    right: float

    @property
    def cut(self) -> bool:
        """The title does not fit its button (the renderer shows "Grant admin …")."""
        return self.scroll_width > self.client_width


@dataclass(frozen=True, slots=True)
class CardReport:
    events: list[dict[str, str]]
    buttons: list[Button]
    links: list[dict[str, str]]
    width: float
    text: str


def render_card(page: Page, card: dict[str, Any], width: int = CHAT_CARD_WIDTH) -> CardReport:
    """Render ``card`` (an Adaptive Card's ``content``) into ``page`` at ``width`` CSS pixels."""
    page.set_content(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head>"
        f"<body style='margin:0;background:#f5f5f5'><div id='card' style='width:{width}px;background:#fff'>"
        "</div></body></html>"
    )
    for asset in (*SCRIPTS, STYLESHEET):
        if not asset.exists():
            raise RuntimeError(f"{asset} is missing: run `make setup` (npm install)")
    page.add_style_tag(path=str(STYLESHEET))
    for script in SCRIPTS:
        page.add_script_tag(path=str(script))
    raw = page.evaluate(_RENDER, [json.loads(json.dumps(card)), _HOST_CONFIG])
    buttons = [
        Button(b["title"], b["shown"], int(b["scrollWidth"]), int(b["clientWidth"]), b["left"], b["right"])
        for b in raw["buttons"]
    ]
    return CardReport(raw["events"], buttons, raw["links"], float(raw["width"]), raw["text"])


def sample_card() -> dict[str, Any]:
    """The opening notice of a deleted Identity Integration, with Check now and Acknowledge links."""
    import dataclasses
    from datetime import UTC, datetime

    from shared.core.catalogue import INTEGRATION
    from shared.core.models import Action, AuditRecord, Initiator, Kind, Source, TargetResource
    from shared.notify import NoticeKind, build_view, render

    record = AuditRecord(
        record_id="Directory_0b7c",
        activity="Delete service principal",
        source=Source.GRAPH,
        tenant_id="3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        initiator=Initiator(kind="user", user_principal_name="first_last@contoso.com"),
        targets=(TargetResource(id="7d1c6f3e-5b0a-4c55-9d0e-2b8f4a1c6e90", app_id=INTEGRATION.app_id),),
        event_time=datetime(2024, 5, 21, 22, 40, tzinfo=UTC),
    )
    view = build_view(
        incident_id="inc-20240521-4f2a",
        tenant_id="3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        notice=NoticeKind.OPENED,
        kind=Kind.INTEGRATION_DELETED,
        action=Action.NOTIFY_CONSENT,
        app=INTEGRATION,
        detected_at=datetime(2024, 5, 21, 22, 41, tzinfo=UTC),
        record=record,
        detected_by=("event_grid",),
    )
    base = "https://remediator.example.net/api/actions/"
    view = dataclasses.replace(view, check_now_url=base + "check-now-token", acknowledge_url=base + "ack-token")
    return (render(view, "teams").payload or {})["attachments"][0]["content"]  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.card_preview [PNG]``: render the sample card at a chat card's width,
    print the renderer's events and the buttons' fit as JSON, and save a screenshot."""
    import sys

    from devtools.browser import chromium_page

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else ROOT / "docs" / "img" / "teams-card.png"
    with chromium_page(width=CHAT_CARD_WIDTH, height=400) as page:
        report = render_card(page, sample_card())
        out.parent.mkdir(parents=True, exist_ok=True)
        page.locator("#card").screenshot(path=str(out))
    buttons = [{"title": b.title, "cut": b.cut, "px": [b.scroll_width, b.client_width]} for b in report.buttons]
    print(json.dumps({"width": report.width, "events": report.events, "buttons": buttons, "screenshot": str(out)}))
    return 1 if report.events or any(b.cut for b in report.buttons) else 0


if __name__ == "__main__":
    raise SystemExit(main())
