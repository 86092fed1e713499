"""A heuristic person and location recognizer: cue words plus a small built-in gazetteer.

This is deliberately modest. Without a language model, a run of capitalised words is a person
after a cue ("Mr.", "Dr.", "name:", "patient", "signed by") or when it starts with a known first
name; a place after a strong cue ("city:", "lives in") or, from the gazetteer, after
"in/from/at/to". Organisations after a person cue ("Signed by Acme Corp") are reported as
persons. The evaluation test prints its precision and recall; plug in a Presidio NER recognizer
(through ``PresidioRecognizer``) for better coverage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlgate.privacy.pii import Finding

__all__ = ["FIRST_NAMES", "PLACES", "NameRecognizer"]

_FIRST_NAME_WORDS = """
    james john robert michael william david richard joseph thomas charles christopher daniel
    matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy
    ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin
    scott brandon benjamin samuel gregory alexander patrick frank raymond jack dennis jerry
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty
    margaret sandra ashley kimberly emily donna michelle carol amanda melissa deborah stephanie
    rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole
    helen samantha katherine christine debra rachel carolyn janet maria catherine heather
    diane olivia julie joyce victoria ruth virginia lauren kelly christina joan evelyn judith
    sophie lucas hans klaus jürgen stefan andreas wolfgang petra sabine ursula monika giulia
    marco luca giuseppe francesca chiara alessandro pierre jean marie camille julien nathalie
    antoine carlos javier miguel lucia carmen pablo jose ana sofia pieter jan sanne lotte
    daan emma noah liam mohammed ahmed fatima aisha wei li yuki hiroshi priya raj arjun
"""

_PLACE_WORDS = """
    london paris berlin madrid rome lisbon amsterdam rotterdam brussels vienna zurich geneva
    munich hamburg frankfurt cologne milan naples turin barcelona valencia seville lyon
    marseille toulouse dublin edinburgh manchester birmingham glasgow oslo stockholm helsinki
    copenhagen warsaw prague budapest athens istanbul moscow kyiv bucharest sofia belgrade
    zagreb ljubljana tallinn riga vilnius reykjavik luxembourg porto bologna florence venice
    utrecht antwerp ghent stuttgart dresden leipzig bern basel krakow gdansk
    boston chicago houston phoenix philadelphia dallas austin seattle denver atlanta miami
    detroit portland toronto montreal vancouver ottawa calgary mexico tokyo osaka kyoto
    seoul beijing shanghai singapore mumbai delhi bangalore sydney melbourne auckland
    cairo lagos nairobi johannesburg capetown dubai tel-aviv jerusalem
    france germany spain italy portugal netherlands belgium austria switzerland ireland
    scotland england wales norway sweden finland denmark poland greece canada brazil japan
"""

FIRST_NAMES = frozenset(_FIRST_NAME_WORDS.split())
PLACES = frozenset(_PLACE_WORDS.split())

_CAP = r"[A-Z][a-zà-ÿ'\u2019-]+"
_NAME = rf"{_CAP}(?: (?:van der|van|de|da|di|von|del|le) {_CAP}| {_CAP}){{0,2}}"

# Every run of capitalised words is a candidate; the few characters before it decide.
_CAPITALISED = re.compile(rf"(?<![\w'\u2019-]){_NAME}")
_LOOKBEHIND = 28
_PERSON_CUE = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam)\.? |"
    r"\b(?i:name|full name|customer|patient|contact|client|employee|signed(?: by)?|"
    r"regards|sincerely|cardholder|account holder|passenger)[\s:=\"',-]{1,4})$"
)
# After these cues any capitalised word is taken as a place, gazetteer or not.
_STRONG_PLACE_CUE = re.compile(
    r"\b(?i:city|town|location|lives in|living in|located in|born in)[\s:=\"',-]{1,4}$"
)
_PLACE_CUE = re.compile(r"\b(?:in|from|at|to|near|of|(?i:address))[\s:=\"',-]{1,4}$")
_STOP_WORDS = "The A An I We You He She They It This That On In At Of To And Or Dear Hi"
_STOP = frozenset(_STOP_WORDS.split())


class NameRecognizer:
    """Finds ``PERSON`` and ``LOCATION`` by cues and gazetteers (see the module docstring)."""

    entities = ("PERSON", "LOCATION")
    trigger = r"[A-Z][a-z]"

    def find(self, text: str) -> Iterator[Finding]:
        for match in _CAPITALISED.finditer(text):
            # "Patient John Smith", "Dear Model Registry": the run may start with a cue or a
            # stop word, so try it and then each shorter suffix (a run has at most 3 words).
            start, end = match.span()
            words = match.group().split(" ")
            for skip in range(len(words)):
                finding = self._decide(text, start, end, words[skip:])
                if finding is not None:
                    yield finding
                    break
                start += len(words[skip]) + 1

    @staticmethod
    def _decide(text: str, start: int, end: int, words: list[str]) -> Finding | None:
        if words[0] in _STOP:
            return None
        before = text[max(0, start - _LOOKBEHIND) : start]
        if _PERSON_CUE.search(before):
            return Finding("PERSON", start, end, 0.7)
        if _STRONG_PLACE_CUE.search(before):
            return Finding("LOCATION", start, end, 0.65)
        if _PLACE_CUE.search(before) and words[0].lower() in PLACES:
            whole = " ".join(words).lower() in PLACES
            return Finding("LOCATION", start, end if whole else start + len(words[0]), 0.6)
        if (
            len(words) > 1
            and words[0].lower() in FIRST_NAMES
            and words[1].lower() not in PLACES
            and words[1] not in _STOP
        ):
            return Finding("PERSON", start, end, 0.6)
        return None
