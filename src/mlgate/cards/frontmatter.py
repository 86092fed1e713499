"""A Hugging Face README's YAML front matter, read as untrusted input.

The loader refuses anchors and aliases (a few lines of ``[*a, *a, ...]`` name a billion items,
the "billion laughs"), nesting deeper than ``_MAX_DEPTH`` and more than ``MAX_FRONT_MATTER``
characters; what it returns is plain dicts, lists and scalars.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from huggingface_hub.repocard import REGEX_YAML_BLOCK

from mlgate.errors import Invalid

__all__ = ["MAX_FRONT_MATTER", "split_front_matter"]

MAX_FRONT_MATTER = 256 * 1024
"""Characters of YAML front matter read on import; room for a model-index of many hundred
results. Parsing YAML in pure Python is slow (470 KB took 2.2 s, measured), so it is bounded."""
_MAX_DEPTH = 32  # a model-index nests 9 levels; the composer recurses twice per level


class _FrontMatterLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that refuses anchors, aliases and nesting deeper than ``_MAX_DEPTH``.

    An alias is a reference, not a copy, so a small document can name a billion items; the
    first ``str()`` or walk over them takes gigabytes. A model card needs no aliases, and an
    anchor is refused with them so a card is either plain YAML or refused as a whole.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = cast(yaml.Mark | None, event.start_mark)  # the stubs also allow libyaml's Mark
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            raise yaml.composer.ComposerError(
                None,
                None,
                "YAML anchors and aliases (&name, *name) are not allowed; write each value out",
                mark,
            )
        if self._depth >= _MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {_MAX_DEPTH} levels", mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def split_front_matter(readme: str) -> tuple[dict[str, Any], str]:
    """The README's front matter, loaded safely, and the Markdown body after it."""
    match = REGEX_YAML_BLOCK.search(readme)  # the Hub library's own rule for the block
    if match is None:
        return {}, readme
    block = match.group(2)
    if len(block) > MAX_FRONT_MATTER:
        raise Invalid.field(
            "readme",
            f"the front matter holds {len(block):,} characters, more than the "
            f"{MAX_FRONT_MATTER:,} read; move long text into the Markdown body",
        )
    try:
        loaded = yaml.load(block, Loader=_FrontMatterLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer of 5,000 digits
        raise Invalid.field("readme", f"the front matter is not usable YAML: {exc}") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise Invalid.field("readme", "the front matter must be a YAML mapping of key: value")
    return loaded, readme[match.end() :]
