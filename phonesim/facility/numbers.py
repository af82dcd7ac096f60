"""Dialled numbers: normalisation and classification (NANP, toll-free, N11, premium, international).

A wall phone sends whatever the inmate keyed; the platform must decide what that
string *is* before any policy applies.  Real systems take 10-digit North American
numbers (optionally with a leading ``1``), refuse toll-free numbers (they hide the
real destination), premium numbers (900 area code, 976 exchange), the N11 service
codes (211..911) and international numbers (``011`` + country code) unless the
contract allows them.

:func:`classify` never raises on what a person can key: a malformed entry is a
:class:`NumberInfo` of kind ``"invalid"`` with a reason, so the call flow can speak
"the number you dialled is not valid" and log the digits as keyed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

#: Toll-free area codes in service (FCC / NANPA).  The range 822, 880-887, 889 is reserved.
TOLL_FREE_NPAS = frozenset({"800", "833", "844", "855", "866", "877", "888"})
#: Premium ("pay-per-call") numbers: the 900 area code and the 976 exchange in any area code.
PREMIUM_NPAS = frozenset({"900"})
PREMIUM_NXXS = frozenset({"976"})
#: N11 service codes: 211 community services .. 911 emergency.
N11_CODES = frozenset(f"{n}11" for n in range(2, 10))

KINDS = ("nanp", "toll-free", "premium", "n11", "international", "invalid")


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """What a dialled string is.

    ``digits`` is the canonical form: 10 digits for NANP numbers (no leading 1),
    ``011...`` for international, the 3 digits for N11, else the keyed digits.
    ``region`` is the state/province/country code of the area code (``"MO"``,
    ``"ON"``, ``"JM"``) or ``""``; ``country`` is ``"US"``, ``"CA"``, another ISO code,
    or ``""`` when unknown.
    """

    keyed: str
    digits: str
    kind: str
    npa: str = ""
    nxx: str = ""
    region: str = ""
    country: str = ""
    reason: str = ""

    @property
    def is_us(self) -> bool:
        return self.country == "US"


@dataclass(frozen=True, slots=True)
class AreaCode:
    npa: str
    region: str
    country: str
    kind: str  # geographic | toll-free | premium | non-geographic


@lru_cache(maxsize=1)
def area_codes() -> dict[str, AreaCode]:
    """The shipped NANP area-code table (``phonesim/facility/data/area_codes.csv``)."""
    text = (resources.files("phonesim.facility") / "data" / "area_codes.csv").read_text()
    table: dict[str, AreaCode] = {}
    for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        table[row["npa"]] = AreaCode(row["npa"], row["region"], row["country"], row["kind"])
    return table


def strip_number(text: str) -> str:
    """Remove the punctuation people write numbers with: spaces, ``-``, ``.``, ``()``, a leading ``+``."""
    out = "".join(ch for ch in str(text).strip() if ch not in " -.()\t")
    if out.startswith("+"):
        out = "011" + out[1:] if not out.startswith("+1") else out[1:]
    return out


def classify(text: str) -> NumberInfo:
    """Classify a dialled or typed number; never raises for bad input (kind ``"invalid"``).

    Examples
    --------
    >>> classify("1 (573) 555-0100").digits
    '5735550100'
    >>> classify("18005551212").kind
    'toll-free'
    >>> classify("011442079460000").kind
    'international'
    """
    keyed = str(text)
    digits = strip_number(keyed)
    if not digits.isdigit():
        return NumberInfo(keyed, digits, "invalid", reason=f"expected digits only, got {keyed!r}")
    if digits in N11_CODES:
        return NumberInfo(keyed, digits, "n11", reason=f"{digits} is an N11 service code")
    if digits.startswith("011"):
        if len(digits) < 7 or len(digits) > 18:
            return NumberInfo(keyed, digits, "invalid",
                              reason=f"expected 011 + 4..15 digits, got {len(digits)} digits")
        return NumberInfo(keyed, digits, "international", reason="international (011) number")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return NumberInfo(keyed, digits, "invalid",
                          reason=f"expected 10 digits (area code + number), got {len(digits)}")
    npa, nxx = digits[:3], digits[3:6]
    if npa[0] in "01" or nxx[0] in "01":
        return NumberInfo(keyed, digits, "invalid", npa, nxx,
                          reason=f"area code and exchange must not start with 0 or 1, got {npa}-{nxx}")
    if npa in N11_CODES:
        return NumberInfo(keyed, digits, "n11", npa, nxx, reason=f"area code {npa} is an N11 code")
    entry = area_codes().get(npa)
    region, country = (entry.region, entry.country) if entry else ("", "")
    if npa in TOLL_FREE_NPAS:
        return NumberInfo(keyed, digits, "toll-free", npa, nxx, reason=f"{npa} is a toll-free area code")
    if npa in PREMIUM_NPAS or nxx in PREMIUM_NXXS:
        return NumberInfo(keyed, digits, "premium", npa, nxx, reason=f"{npa}-{nxx} is a premium number")
    if entry is None or entry.kind != "geographic":
        return NumberInfo(keyed, digits, "invalid", npa, nxx, region, country,
                          reason=f"area code {npa} is not a geographic area code in service")
    if country != "US":
        return NumberInfo(keyed, digits, "international", npa, nxx, region, country,
                          reason=f"area code {npa} is in {region} ({country}), outside the US")
    return NumberInfo(keyed, digits, "nanp", npa, nxx, region, country)


def matches_prefix(info: NumberInfo, prefix: str) -> bool:
    """Does a profile's ``numbers.blocked_prefixes`` entry cover this number?

    ``"N11"`` covers every N11 code (dialled alone or as an area code); ``"976"`` is
    an exchange code and covers NXX 976 in any area code; ``"911"`` covers 911 dialled
    alone; anything else is a prefix of the canonical 10-digit (or 011) form.
    """
    if prefix.upper() == "N11":
        return info.kind == "n11"
    if prefix in PREMIUM_NXXS and info.nxx == prefix:
        return True
    return bool(info.digits) and info.digits.startswith(prefix)


def format_number(digits: str) -> str:
    """``5735550100`` -> ``573-555-0100`` (other forms unchanged)."""
    if len(digits) == 10 and digits.isdigit():
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return digits
