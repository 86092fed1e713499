"""The Markdown codec behind Hugging Face export reads back whatever text it wrote."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlgate.cards.mdsections import (
    decode_list,
    decode_table,
    decode_text,
    encode_list,
    encode_table,
    encode_text,
    split_sections,
)

# Any printable text, including Markdown and HTML syntax, across several lines.
_markup = st.sampled_from(["\n", "|", "\\", "#", "- ", "<br>", "&amp;", "```", "  ", "*"])
_pieces = _markup | st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=8
)
texts = st.lists(_pieces, max_size=10).map("".join).map(str.strip).filter(bool)


def normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


@given(st.lists(texts, max_size=4))
def test_list_round_trip(items: list[str]) -> None:
    body = f"## Items\n\n{encode_list(items)}\n\n## Next\n\nafter\n" if items else ""
    decoded = decode_list(split_sections(body).get("items", ""))
    assert [normal(x) for x in decoded] == [normal(x) for x in items if normal(x)]


@given(texts)
def test_text_round_trip(text: str) -> None:
    body = f"### Notes\n\n{encode_text(text)}\n\n### Next\n"
    assert normal(decode_text(split_sections(body)["notes"]) or "") == normal(text)


@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=3))
def test_table_round_trip(rows: list[tuple[str, str]]) -> None:
    table = encode_table(("name", "ci.low"), [{"name": a, "ci": {"low": b}} for a, b in rows])
    decoded = decode_table(split_sections(f"### T\n\n{table}\n")["t"])
    assert [(r["name"], r["ci"]["low"]) for r in decoded] == [
        (a.strip(), b.strip()) for a, b in rows
    ]
