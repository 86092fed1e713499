"""Rendering: a self-contained HTML page that cannot run user markup, Markdown and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from html.parser import HTMLParser

import pytest

from mlgate.cards import ModelCard, render_html, render_json, render_markdown
from mlgate.cards.paths import string_leaves

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOADS = [SCRIPT, ATTRIBUTE, SCRIPT + ATTRIBUTE + "'><svg onload=alert(1)>"]

# Every tag the template itself writes; user text must never add one.
TEMPLATE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "p",
    "span",
    "section",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "ul",
    "li",
    "a",
    "code",
    "figure",
    "figcaption",
    "svg",
    "text",
    "rect",
    "line",
}

TEMPLATE_ATTRIBUTES = {
    "lang",
    "charset",
    "name",
    "content",
    "id",
    "class",
    "href",
    "rel",
    "xmlns",
    "role",
    "width",
    "height",
    "aria-label",
    "x",
    "y",
    "x1",
    "x2",
    "y1",
    "y2",
}


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def parse(page: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(page)
    collector.close()
    return collector


@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_never_executes_markup_from_any_field(
    payload: str, card_with_text: Callable[[str], ModelCard]
) -> None:
    card = card_with_text(payload)
    assert card.model_dump(exclude_none=True) == card.model_dump()  # no field left unset
    dates = ("date", "date_start", "date_end")
    assert {text for path, text in string_leaves(card) if not path.endswith(dates)} == {payload}
    page = render_html(card)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "<svg onload" not in page.lower()
    tags = parse(page).tags
    assert {tag for tag, _ in tags} <= TEMPLATE_TAGS
    # A payload that broke out of an attribute would add attributes (src, onerror, onload).
    assert {name for _, attrs in tags for name, _ in attrs} <= TEMPLATE_ATTRIBUTES
    # The text is still shown, escaped, and the SVG chart labels are escaped too.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page or "&#34;&gt;&lt;img" in page
    assert page.count("<svg") == 1


def test_html_is_self_contained(full_card: ModelCard) -> None:
    page = render_html(full_card)
    assert page.startswith("<!DOCTYPE html>")
    tags = parse(page).tags
    assert not [t for t, _ in tags if t in {"script", "link", "img", "iframe", "object"}]
    for tag, attrs in tags:
        for name, value in attrs:
            assert name != "src", tag
            if name == "href":  # only links a reader clicks, never a fetch
                assert tag == "a"
                assert (value or "").startswith("https://")
    assert "url(" not in page
    assert "@import" not in page


def test_html_shows_every_section_and_a_bar_per_slice(full_card: ModelCard) -> None:
    page = render_html(full_card)
    for section in [
        "Model details",
        "Intended use",
        "Factors",
        "Metrics",
        "Evaluation data",
        "Training data",
        "Quantitative analyses",
        "Ethical considerations",
        "Caveats and recommendations",
    ]:
        assert f"<h2>{section}</h2>" in page
    rects = [attrs for tag, attrs in parse(page).tags if tag == "rect"]
    assert len(rects) == len(full_card.metrics.performance_metrics)
    assert "age 65+" in page
    assert "retention-ml@example.com" in page


def test_html_does_not_link_non_web_urls(full_card: ModelCard) -> None:
    data = full_card.model_dump()
    data["model_details"]["references"] = ["javascript:alert(1)"]
    page = render_html(ModelCard.model_validate(data))
    assert "javascript:alert(1)" in page
    assert not [a for t, a in parse(page).tags if t == "a" and "javascript" in str(a)]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_escapes_html_from_any_field(
    payload: str, card_with_text: Callable[[str], ModelCard]
) -> None:
    text = render_markdown(card_with_text(payload))
    assert "<script" not in text
    assert "<img" not in text
    assert "<svg" not in text
    assert "&lt;script&gt;" in text or "&lt;img" in text


def test_markdown_neutralises_links_and_headings() -> None:
    card = ModelCard.model_validate(
        {
            "model_details": {"name": "churn", "overview": "# Fake heading\n[click](javascript:x)"},
        }
    )
    text = render_markdown(card)
    assert "\\# Fake heading" in text
    assert "[click](javascript" not in text
    assert "\\[click\\]\\(javascript:x\\)" in text


def test_markdown_renders_the_card(full_card: ModelCard) -> None:
    text = render_markdown(full_card)
    assert text.startswith("# Model card: churn\n")
    assert "| auc | age 65\\+ | 0.87 |" in text
    assert "- credit decisions" in text


def test_json_is_the_card(full_card: ModelCard) -> None:
    assert ModelCard.model_validate(json.loads(render_json(full_card))) == full_card
