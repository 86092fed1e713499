"""Value generators for the evaluation set: valid entities and look-alikes that are not valid."""

from __future__ import annotations

import base64
import ipaddress
import random
import string
from collections.abc import Callable

from stdnum.es import dni as es_dni
from stdnum.nl import bsn as nl_bsn
from stdnum.us import ssn as us_ssn

Gen = Callable[[random.Random], str]

IBAN_SHAPES = (
    ("DE", "000000000000000000"),
    ("GB", "AAAA00000000000000"),
    ("FR", "00000000000000000000000"),
    ("NL", "AAAA0000000000"),
    ("ES", "00000000000000000000"),
    ("IT", "A0000000000000000000000"),
)
PHONE_SHAPES = (
    ("US", "(ddd) ddd-dddd"),
    ("US", "ddd-ddd-dddd"),
    ("US", "+1 ddd ddd dddd"),
    ("US", "ddd.ddd.dddd"),
    ("GB", "+44 20 dddd dddd"),
    ("GB", "+44 7ddd dddddd"),
    ("DE", "+49 30 dddddddd"),
    ("DE", "+49 15d ddddddd"),
    ("FR", "+33 1 dd dd dd dd"),
    ("FR", "+33 6 dd dd dd dd"),
    ("NL", "+31 20 ddd dddd"),
)
FIRST = (
    "John",
    "Maria",
    "Anna",
    "David",
    "Sophie",
    "Giulia",
    "Carlos",
    "Emma",
    "Pieter",
    "Siobhan",
    "Bartholomew",
    "Ingrid",
    "Tariq",
    "Oksana",
    "Rafael",
    "Zainab",
    "Mateo",
    "Freya",
    "Kwame",
    "Lena",
)
LAST = (
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Dubois",
    "de Vries",
    "Johnson",
    "Kowalski",
    "Nakamura",
    "O'Brien",
    "Jensen",
    "Silva",
    "Novak",
    "Okafor",
    "Lindqvist",
)
CITIES = (
    "Berlin",
    "Lisbon",
    "Madrid",
    "Boston",
    "Amsterdam",
    "Milan",
    "Dublin",
    "Vienna",
    "Bratislava",
    "Tampere",
    "Graz",
    "Aarhus",
    "Nantes",
    "Eindhoven",
    "Brno",
)
TITLES = (
    "Annual Report",
    "Support Team",
    "Model Registry",
    "Quarterly Review",
    "Data Platform",
    "Release Notes",
)
ORGS = ("Acme Corp", "Globex Logistics", "Initech Support", "Umbrella Health", "Hooli Cloud")
FILLER = (
    "today",
    "asap",
    "thanks",
    "regarding",
    "invoice",
    "the",
    "delivery",
    "please",
    "urgent",
    "soon",
    "again",
    "issue",
    "payment",
    "update",
    "later",
    "this",
    "week",
)
DOMAINS = ("example.com", "mail.example.org", "corp.example.net", "uni-example.edu", "ex.io")


def luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_mod97(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text)) % 97


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _alnum(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _until(rng: random.Random, make: Gen, ok: Callable[[str], bool]) -> str:
    for _ in range(500):
        value = make(rng)
        if ok(value):
            return value
    raise RuntimeError("generator found no value in 500 tries")


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower().replace(" ", "")
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}+{rng.randint(1, 99)}"])
    return f"{local.replace(chr(39), '')}@{rng.choice(DOMAINS)}"


def ip_address(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return str(ipaddress.IPv4Address(rng.getrandbits(32)))
    if rng.random() < 0.5:
        return str(ipaddress.IPv6Address(rng.getrandbits(128)))
    return f"2001:db8::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}"


def url(rng: random.Random) -> str:
    path = "/".join(_alnum(rng, rng.randint(3, 8), string.ascii_lowercase) for _ in range(2))
    query = rng.choice(["", f"?id={rng.randint(1, 9999)}", f"?q={_alnum(rng, 5)}&page=2"])
    return (
        f"{rng.choice(['https', 'http'])}://{rng.choice(['www.', 'docs.', ''])}"
        f"{rng.choice(DOMAINS)}/{path}{query}"
    )


def ssn(rng: random.Random) -> str:
    return _until(
        rng,
        lambda r: f"{r.randint(1, 899):03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
        us_ssn.is_valid,
    )


def bad_ssn(rng: random.Random) -> str:
    area = rng.choice(["000", "666", f"9{rng.randint(0, 99):02d}"])
    return f"{area}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def dni(rng: random.Random) -> str:
    body = _digits(rng, 8)
    return body + es_dni.calc_check_digit(body)


def bad_dni(rng: random.Random) -> str:
    return _until(
        rng, lambda r: _digits(r, 8) + r.choice("TRWAGMYFPDXBNJZ"), lambda x: not es_dni.is_valid(x)
    )


def bsn(rng: random.Random) -> str:
    return _until(rng, lambda r: _digits(r, 9), nl_bsn.is_valid)


def bad_bsn(rng: random.Random) -> str:
    return _until(rng, lambda r: _digits(r, 9), lambda x: not nl_bsn.is_valid(x))


def _nir_body(rng: random.Random) -> str:
    return (
        f"{rng.randint(1, 2)}{rng.randint(40, 99):02d}{rng.randint(1, 12):02d}"
        f"{rng.choice([1, 13, 33, 44, 59, 69, 75, 92]):02d}{rng.randint(1, 990):03d}"
        f"{rng.randint(1, 999):03d}"
    )


def nir(rng: random.Random, valid: bool = True) -> str:
    body = _nir_body(rng)
    key = 97 - int(body) % 97
    if not valid:
        key = (key + rng.randint(1, 90)) % 97 + 1
    number = f"{body}{key:02d}"
    if rng.random() < 0.5:
        return number
    cuts = (1, 2, 2, 2, 3, 3, 2)
    parts, pos = [], 0
    for c in cuts:
        parts.append(number[pos : pos + c])
        pos += c
    return " ".join(parts)


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def date_of_birth(rng: random.Random) -> str:
    y, m, d = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{d:02d}/{m:02d}/{y}",
            f"{d:02d}.{m:02d}.{y}",
            f"{d} {MONTHS[m - 1]} {y}",
            f"{MONTHS[m - 1]} {d}, {y}",
        ]
    )


def bearer(rng: random.Random) -> str:
    part = lambda n: base64.urlsafe_b64encode(rng.randbytes(n)).rstrip(b"=").decode()  # noqa: E731
    return f"eyJ{part(18)}.{part(30)}.{part(32)}"


def sk_key(rng: random.Random) -> str:
    return rng.choice(["sk-", "sk-proj-"]) + _alnum(rng, 48)


def aws_key(rng: random.Random) -> str:
    return "AKIA" + _alnum(rng, 16, string.ascii_uppercase + string.digits)


def mlg_key(rng: random.Random) -> str:
    return f"mlg_{_alnum(rng, 40)}_{_alnum(rng, 6)}"


def pem(rng: random.Random) -> str:
    kind = rng.choice(["", "RSA ", "EC ", "OPENSSH "])
    body = "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(4))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def location(rng: random.Random) -> str:
    return rng.choice(CITIES)


LOOKALIKES: dict[str, Gen] = {
    "NUMBER": lambda r: _digits(r, r.randint(5, 8)),
    "SHORT": lambda r: _digits(r, r.randint(2, 4)),
    "MAC": lambda r: ":".join(f"{r.randint(0, 255):02x}" for _ in range(6)),
    "IP_ADDRESS": lambda r: r.choice(
        [
            f"{r.randint(256, 999)}.{r.randint(0, 255)}.1.{r.randint(0, 9)}",
            f"10.0.0.{r.randint(300, 999)}",
        ]
    ),
    "US_SSN": bad_ssn,
    "ES_NIF": bad_dni,
    "NL_BSN": bad_bsn,
    "FR_NIR": lambda r: nir(r, False),
    "DATE": date_of_birth,
    "VERSION": lambda r: f"v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    "CREDENTIAL": lambda r: r.choice(["sk-test", "sk-" + _alnum(r, 8), "akia" + _alnum(r, 16)]),
    "TITLE": lambda r: r.choice(TITLES),
    "ORG": lambda r: r.choice(ORGS),
}
