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
