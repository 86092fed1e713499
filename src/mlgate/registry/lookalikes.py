"""Characters drawn like others a reader would see in their place: look-alikes of Latin
letters in other scripts and in phonetic alphabets, and symbols drawn like a separator (see
``registry.naming``, which refuses names that hold them)."""

from __future__ import annotations

import unicodedata

__all__ = ["LATIN_LOOK_ALIKES", "SEPARATOR_LOOK_ALIKES"]

# Cyrillic and Greek letters drawn as the Latin letter beside them is (Unicode's confusables.txt
# maps each to it; each checked by eye). A word of only these reads as a Latin word it is not:
# Cyrillic ER and U read as "py", IE HA IE as "exe". Left out: Greek small chi and kappa (chi
# reaches below the line and kappa stops at x's height; confusables.txt maps them to Latin chi
# and kra, not to x and k) and letters only roughly alike (Cyrillic small GHE, capital U and
# SOFT SIGN; Greek small gamma and sigma), which many Russian and Greek words are made of.
LATIN_LOOK_ALIKES: dict[str, str] = {
    unicodedata.lookup(letter): latin
    for letter, latin in (
        ("CYRILLIC SMALL LETTER A", "a"),
        ("CYRILLIC SMALL LETTER IE", "e"),
        ("CYRILLIC SMALL LETTER O", "o"),
        ("CYRILLIC SMALL LETTER ER", "p"),
        ("CYRILLIC SMALL LETTER ES", "c"),
        ("CYRILLIC SMALL LETTER U", "y"),
        ("CYRILLIC SMALL LETTER HA", "x"),
        ("CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "i"),
        ("CYRILLIC SMALL LETTER JE", "j"),
        ("CYRILLIC SMALL LETTER DZE", "s"),
        ("CYRILLIC SMALL LETTER SHHA", "h"),
        ("CYRILLIC SMALL LETTER KOMI DE", "d"),
        ("CYRILLIC SMALL LETTER QA", "q"),
        ("CYRILLIC SMALL LETTER WE", "w"),
        ("CYRILLIC SMALL LETTER STRAIGHT U", "y"),
        ("CYRILLIC SMALL LETTER PALOCHKA", "l"),
        ("CYRILLIC SMALL LETTER IZHITSA", "v"),
        ("CYRILLIC CAPITAL LETTER A", "A"),
        ("CYRILLIC CAPITAL LETTER VE", "B"),
        ("CYRILLIC CAPITAL LETTER IE", "E"),
        ("CYRILLIC CAPITAL LETTER KA", "K"),
        ("CYRILLIC CAPITAL LETTER EM", "M"),
        ("CYRILLIC CAPITAL LETTER EN", "H"),
        ("CYRILLIC CAPITAL LETTER O", "O"),
        ("CYRILLIC CAPITAL LETTER ER", "P"),
        ("CYRILLIC CAPITAL LETTER ES", "C"),
        ("CYRILLIC CAPITAL LETTER TE", "T"),
        ("CYRILLIC CAPITAL LETTER HA", "X"),
        ("CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I", "I"),
        ("CYRILLIC CAPITAL LETTER JE", "J"),
        ("CYRILLIC CAPITAL LETTER DZE", "S"),
        ("CYRILLIC CAPITAL LETTER STRAIGHT U", "Y"),
        ("CYRILLIC LETTER PALOCHKA", "I"),
        ("CYRILLIC CAPITAL LETTER QA", "Q"),
        ("CYRILLIC CAPITAL LETTER WE", "W"),
        ("CYRILLIC CAPITAL LETTER IZHITSA", "V"),
        ("GREEK SMALL LETTER OMICRON", "o"),
        ("GREEK SMALL LETTER IOTA", "i"),
        ("GREEK SMALL LETTER NU", "v"),
        ("GREEK SMALL LETTER RHO", "p"),
        ("GREEK SMALL LETTER UPSILON", "u"),
        ("GREEK SMALL LETTER ALPHA", "a"),
        ("GREEK LUNATE SIGMA SYMBOL", "c"),
        ("GREEK LETTER YOT", "j"),
        ("GREEK CAPITAL LETTER ALPHA", "A"),
        ("GREEK CAPITAL LETTER BETA", "B"),
        ("GREEK CAPITAL LETTER EPSILON", "E"),
        ("GREEK CAPITAL LETTER ZETA", "Z"),
        ("GREEK CAPITAL LETTER ETA", "H"),
        ("GREEK CAPITAL LETTER IOTA", "I"),
        ("GREEK CAPITAL LETTER KAPPA", "K"),
        ("GREEK CAPITAL LETTER MU", "M"),
        ("GREEK CAPITAL LETTER NU", "N"),
        ("GREEK CAPITAL LETTER OMICRON", "O"),
        ("GREEK CAPITAL LETTER RHO", "P"),
        ("GREEK CAPITAL LETTER TAU", "T"),
        ("GREEK CAPITAL LETTER UPSILON", "Y"),
        ("GREEK CAPITAL LETTER CHI", "X"),
        ("GREEK CAPITAL LUNATE SIGMA SYMBOL", "C"),
        ("GREEK CAPITAL LETTER YOT", "J"),
    )
}
# Latin letters of phonetic alphabets that a reader takes for ASCII ones: small capitals (each
# reads as its letter: "\u1d00dmin"), and what confusables.txt maps to ASCII from IPA
# Extensions, Phonetic Extensions and the click letters of Latin Extended-B ("adm\u0269n",
# "\u0251lexnet", "mode\u01c0"). They are Latin, so the script rule lets them into an ASCII
# word; a word of ASCII letters and these reads as the ASCII word. Khoekhoe's click letters and
# Kabiye's iota go with them. Left out: GAMMA and V WITH HOOK, everyday letters of Ewe, Berber
# and other languages, drawn with a loop or a hook (confusables.txt maps them to y and u).
LATIN_LOOK_ALIKES.update(
    {
        unicodedata.lookup(f"LATIN LETTER SMALL CAPITAL {c}"): c.lower()
        for c in "ABCDEFGHIJKLMNOPQRSTUVWYZ"
    }
)
LATIN_LOOK_ALIKES.update(
    {
        unicodedata.lookup(letter): latin
        for letter, latin in (
            ("LATIN LETTER DENTAL CLICK", "l"),
            ("LATIN LETTER LATERAL CLICK", "ll"),
            ("LATIN LETTER RETROFLEX CLICK", "!"),
            ("LATIN SMALL LETTER ALPHA", "a"),
            ("LATIN SMALL LETTER SCRIPT G", "g"),
            ("LATIN SMALL LETTER IOTA", "i"),
            ("LATIN SMALL LETTER TURNED M", "w"),
            ("LATIN SMALL LETTER DZ DIGRAPH", "dz"),
            ("LATIN SMALL LETTER TS DIGRAPH", "ts"),
            ("LATIN SMALL LETTER LS DIGRAPH", "ls"),
            ("LATIN SMALL LETTER LZ DIGRAPH", "lz"),
            ("LATIN SMALL LETTER SIDEWAYS O", "o"),
            ("LATIN SMALL LETTER UE", "ue"),
            ("LATIN SMALL LETTER G WITH PALATAL HOOK", "g"),
            ("LATIN SMALL LETTER V WITH PALATAL HOOK", "y"),
        )
    }
)
# Lisu and Cherokee letters were drawn after Latin capitals; these are the ones confusables.txt
# maps to ASCII ("\ua4d1\ua4e3\ua4f3\ua4d3" reads as "PROD"). A word of them and digits is
# refused as a Cyrillic one is; one with any other letter of its script is a Lisu or Cherokee
# word.
LATIN_LOOK_ALIKES.update(
    zip(
        "\ua4d0\ua4d1\ua4d2\ua4d3\ua4d4\ua4d6\ua4d7\ua4d9\ua4da\ua4dc\ua4dd\ua4df\ua4e0\ua4e1"
        "\ua4e2\ua4e3\ua4e6\ua4e7\ua4ea\ua4eb\ua4ec\ua4ee\ua4f0\ua4f2\ua4f3\ua4f4\ua4f9\ua4fd",
        "BPdDTGKJCZFMNLSRVHWXYAEIOU,:",
        strict=True,
    )
)
LATIN_LOOK_ALIKES.update(
    zip(
        "\u13a0\u13a1\u13a2\u13a5\u13a9\u13aa\u13ab\u13ac\u13b3\u13b7\u13bb\u13bd\u13c0\u13c2"
        "\u13c3\u13ce\u13cf\u13d2\u13d4\u13d5\u13d9\u13da\u13de\u13df\u13e2\u13e6\u13e7\u13ee"
        "\u13f3\u13f4\uab75\uab81\uab83\uab93\uaba9\uabaa\uabaf",
        "DRTiYAJEWMHYGhZ4bRWSVSLCPKd6GBirwzvsc",
        strict=True,
    )
)
# Symbols drawn as '/', '\\' or '.' that NFKC does not fold to them (confusables.txt): "dir"
# DIVISION SLASH "model.onnx" reads as a directory and a file. Lisu tone letters MYA TI, MYA
# CYA and MYA BO and the Lisu comma are drawn as '.', '..', '.,' and '-.', so Lisu words that
# hold them are refused with the rest.
SEPARATOR_LOOK_ALIKES: dict[str, str] = {
    **dict.fromkeys("\u1735\u2041\u2044\u2215\u2571\u27cb\u29f8\U0001d23a", "/"),
    **dict.fromkeys("\u2216\u27cd\u29f5\u29f9\U0001d20f\U0001d23b", "\\"),
    **dict.fromkeys("\u0701\u0702\ua60e\U00010a50\U0001d16d\ua4f8\ua4fa\ua4fb\ua4fe", "."),
}
