"""A deterministic, labelled PII evaluation set: known spans in sentences, JSON and log lines.

Each record mixes valid entities (labelled) with look-alikes that must not be flagged
(failing-Luhn cards, IBANs with wrong check digits, invalid SSN areas, MAC addresses, ...).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from stdnum.de import idnr
from stdnum.iso7064 import mod_11_10
from stdnum.it import codicefiscale

from . import evalvalues as v

__all__ = ["PATTERN_TYPES", "Record", "Span", "generate"]

PATTERN_TYPES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "URL",
    "US_SSN",
    "ES_NIF",
    "IT_FISCAL_CODE",
    "NL_BSN",
    "FR_NIR",
    "DE_TAX_ID",
    "DATE_OF_BIRTH",
    "CREDENTIAL",
)


@dataclass(frozen=True, slots=True)
class Span:
    entity_type: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Record:
    text: str
    spans: tuple[Span, ...]


Gen = Callable[[random.Random], str]

# Templates: {TYPE} is a labelled entity, {~TYPE} an unlabelled look-alike, {*} filler words.
TEMPLATES = (
    "Hi, please update my e-mail to {EMAIL_ADDRESS} and call me on {PHONE_NUMBER} {*}.",
    "Card {CREDIT_CARD} was declined; the old one {~CREDIT_CARD} expired {*}.",
    "Refund to IBAN {IBAN_CODE} (not {~IBAN_CODE}), reference {~NUMBER}.",
    "2024-05-01T12:00:00Z INFO login user={EMAIL_ADDRESS} ip={IP_ADDRESS} mac={~MAC} took 35ms",
    "Connection from {IP_ADDRESS} rejected, retry from {~IP_ADDRESS} at 12:30:45 {*}.",
    '{"user": {"email": "{EMAIL_ADDRESS}", "ssn": "{US_SSN}"}, "order": "{~NUMBER}"}',
    "Applicant SSN {US_SSN}; rejected form had {~US_SSN} {*}.",
    "Cliente con DNI {ES_NIF} (el {~ES_NIF} no es válido) {*}.",
    "Codice fiscale: {IT_FISCAL_CODE}, errato: {~IT_FISCAL_CODE}.",
    "BSN {NL_BSN} staat in het dossier, {~NL_BSN} niet {*}.",
    "Numéro de sécurité sociale {FR_NIR}, ancien {~FR_NIR}.",
    "Steuer-ID {DE_TAX_ID} bestätigt; {~DE_TAX_ID} abgelehnt {*}.",
    "Patient record: DOB: {DOB} admitted on {~DATE} {*}.",
    "She was born on {DOB} and joined on {~DATE}.",
    '{"name": "x", "date_of_birth": "{DOB}", "created": "{~DATE}"}',
    "See {URL} for the runbook, version {~VERSION} {*}.",
    "curl -H 'Authorization: Bearer {BEARER}' {URL}",
    "export OPENAI_API_KEY={CREDENTIAL} # not {~CREDENTIAL}",
    "aws_access_key_id = {AWS} {*}",
    "MLGATE_API_KEY={MLG} MODEL=churn-{~NUMBER}",
    "key file contents:\n{PEM}\nend of file",
    "Dear {~TITLE}, Mr. {PERSON} asked about the {~TITLE} {*}.",
    "name: {PERSON}, city: {LOCATION}, phone {PHONE_NUMBER}",
    "{PERSON} wrote from {LOCATION} that the {~TITLE} is late {*}.",
    "Flight from {LOCATION} to {LOCATION} booked for Dr. {PERSON}.",
    "Ticket {~NUMBER}: customer {PERSON} reports {*} with card ending {~SHORT}.",
    "Ping {IP_ADDRESS} and {IP_ADDRESS}; port {~SHORT} {*}.",
    "Wire {~NUMBER} EUR to {IBAN_CODE} for {*}, call {PHONE_NUMBER}.",
    "Contact {EMAIL_ADDRESS}, site {URL}, fax {PHONE_NUMBER}.",
    # Organisations after person cues: the name heuristic is expected to trip here.
    "Signed by {~ORG} on behalf of the {~TITLE} {*}.",
    "Contact: {~ORG} ({EMAIL_ADDRESS}), customer {PERSON}.",
)


def _fmt_digits(digits: str, groups: tuple[int, ...], sep: str) -> str:
    parts, pos = [], 0
    for g in groups:
        parts.append(digits[pos : pos + g])
        pos += g
    return sep.join(parts)


def card(rng: random.Random, valid: bool = True) -> str:
    prefix, length = rng.choice(
        [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15), ("34", 15), ("6011", 16)]
    )
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    check = next(d for d in string.digits if v.luhn(body + d))
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    digits = body + check
    groups = (4, 6, 5) if length == 15 else (4, 4, 4, 4)
    return _fmt_digits(digits, groups, rng.choice([" ", "-", ""]))


def iban(rng: random.Random, valid: bool = True) -> str:
    country, bban = rng.choice(v.IBAN_SHAPES)
    body = "".join(rng.choice(string.ascii_uppercase if c == "A" else string.digits) for c in bban)
    check = 98 - v.iban_mod97(body + country + "00")
    if not valid:
        check = (check + rng.randint(1, 50)) % 97 + 2
    compact = f"{country}{check:02d}{body}"
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def phone(rng: random.Random) -> str:
    for _ in range(200):
        region, fmt = rng.choice(v.PHONE_SHAPES)
        raw = "".join(rng.choice(string.digits) if c == "d" else c for c in fmt)
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return raw
    raise RuntimeError("no valid phone number in 200 tries")


def fiscal_code(rng: random.Random, valid: bool = True) -> str:
    letters = "".join(rng.choice("BCDFGHLMNPRSTVZ") for _ in range(6))
    body = (
        f"{letters}{rng.randint(40, 99):02d}{rng.choice('ABCDEHLMPRST')}"
        f"{rng.randint(1, 28) + rng.choice([0, 40]):02d}{rng.choice('ABCDEFGHLM')}"
        f"{rng.randint(100, 999)}"
    )
    check = codicefiscale.calc_check_digit(body)
    if not valid:
        check = rng.choice([c for c in string.ascii_uppercase if c != check])
    return body + check


def de_tax_id(rng: random.Random, valid: bool = True) -> str:
    def make(r: random.Random) -> str:
        body = str(r.randint(1, 9)) + "".join(r.choice(string.digits) for _ in range(9))
        check = mod_11_10.calc_check_digit(body)
        if not valid:
            check = str((int(check) + r.randint(1, 9)) % 10)
        return body + check

    number = v._until(rng, make, lambda x: idnr.is_valid(x) == valid)
    return number if rng.random() < 0.5 else _fmt_digits(number, (2, 3, 3, 3), " ")


def _counter_gen(rng: random.Random, make: Callable[[random.Random, bool], str]) -> str:
    return make(rng, False)


GENERATORS: dict[str, Gen] = {
    "EMAIL_ADDRESS": v.email,
    "PHONE_NUMBER": phone,
    "CREDIT_CARD": card,
    "IBAN_CODE": iban,
    "IP_ADDRESS": v.ip_address,
    "URL": v.url,
    "US_SSN": v.ssn,
    "ES_NIF": v.dni,
    "IT_FISCAL_CODE": fiscal_code,
    "NL_BSN": v.bsn,
    "FR_NIR": v.nir,
    "DE_TAX_ID": de_tax_id,
    "DOB": v.date_of_birth,
    "BEARER": v.bearer,
    "CREDENTIAL": v.sk_key,
    "AWS": v.aws_key,
    "MLG": v.mlg_key,
    "PEM": v.pem,
    "PERSON": v.person,
    "LOCATION": v.location,
}
LABELS = {
    "DOB": "DATE_OF_BIRTH",
    "BEARER": "CREDENTIAL",
    "AWS": "CREDENTIAL",
    "MLG": "CREDENTIAL",
    "PEM": "CREDENTIAL",
}

LOOKALIKES: dict[str, Gen] = {
    "CREDIT_CARD": lambda r: card(r, False),
    "IBAN_CODE": lambda r: iban(r, False),
    "IT_FISCAL_CODE": lambda r: fiscal_code(r, False),
    "DE_TAX_ID": lambda r: de_tax_id(r, False),
    **v.LOOKALIKES,
}

_SLOT = re.compile(r"\{(~?)([A-Z_]+|\*)\}")


def _record(rng: random.Random, template: str) -> Record:
    text: list[str] = []
    spans: list[Span] = []
    length = 0
    position = 0
    for match in _SLOT.finditer(template):
        literal = template[position : match.start()]
        text.append(literal)
        length += len(literal)
        lookalike, name = match.groups()
        if name == "*":
            value = " ".join(rng.choice(v.FILLER) for _ in range(rng.randint(2, 6)))
        elif lookalike:
            value = LOOKALIKES[name](rng)
        else:
            value = GENERATORS[name](rng)
            if name == "PEM":
                inner = value.index("-----BEGIN")
                spans.append(Span("CREDENTIAL", length + inner, length + len(value)))
            else:
                spans.append(Span(LABELS.get(name, name), length, length + len(value)))
        text.append(value)
        length += len(value)
        position = match.end()
    text.append(template[position:])
    return Record("".join(text), tuple(spans))


def generate(n: int = 3000, *, seed: int = 20240501) -> list[Record]:
    """``n`` records from the templates, identical for the same ``seed``."""
    rng = random.Random(seed)
    return [_record(rng, TEMPLATES[i % len(TEMPLATES)]) for i in range(n)]
