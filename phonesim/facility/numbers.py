"""Dialled numbers: canonicalisation and classification (NANP, toll-free, N11, premium, international).

A wall phone sends whatever the inmate keyed; the platform must decide what that
string *is* before any policy applies.  Real systems take 10-digit North American
numbers (optionally with a leading ``1``), refuse toll-free numbers (they hide the
real destination), premium numbers (900 area code, 976 exchange), the N11 service
codes (211..911) and international numbers (``011`` + country code) unless the
contract allows them.

A 12-key keypad can disguise one destination in many ways, and a rule that looks
at the keyed string instead of the destination is a rule an inmate can walk
around: ``011 1 800 555 1212`` is the toll-free ``800-555-1212``, ``*67`` in front
hides the caller ID of the same call, ``1010288 1 ...`` picks a long-distance
carrier for it.  So :func:`canonical` reduces every keyed string to the
destination a telephone network would reach, *once*, and :func:`classify`, the
ledger, the policy, the rates and the call records all work on that canonical
form (and the far end is dialled with it, never with the keyed string):

=====================================  =====================================
keyed                                  canonical
=====================================  =====================================
``5735550100``, ``1`` + it             ``5735550100``
``0`` + 10 digits (operator-assisted)  the 10 digits
``011``/``00``/``01``/``+`` + ``1`` +  the 10 digits (country code 1 is the
10 digits                              NANP: domestic or NANP-foreign by area code)
``011``/``00``/``01``/``+`` + CC ...   ``011`` + CC ...
``*67``, ``*82`` ... (``*`` + 2        removed (vertical service codes, before
digits), ``*31#``, ``#31#``, ``1167``  or after the number; ``11XX`` is the
                                       rotary form of ``*XX``)
``101XXXX`` (``1010XXX``)              removed (dial-around carrier access code)
stray ``#`` and ``*`` at either end    removed
=====================================  =====================================

Anything else with ``*`` or ``#`` inside, letters, non-ASCII digits or more than
:data:`MAX_KEYS` keys is ``"invalid"``.  International freephone (``+800``,
``+808``) is toll-free and international premium or satellite codes (``+979``,
``+870``, ``+881``..``+883``) are premium, like their domestic counterparts.

:func:`classify` never raises on what a person can key: a malformed entry is a
:class:`NumberInfo` of kind ``"invalid"`` with a reason, so the call flow can speak
"the number you dialled is not valid" and log the digits as keyed.
"""

from __future__ import annotations

import csv
import re
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
#: Country codes of international freephone (UIFN 800, shared cost 808): refused like 800 numbers.
TOLL_FREE_COUNTRY_CODES = ("800", "808")
#: Country codes of international premium rate (979) and satellite networks (870, 881-883).
PREMIUM_COUNTRY_CODES = ("979", "870", "881", "882", "883")
#: The longest keyed string looked at; anything longer is invalid (E.164 is 15 digits).
MAX_KEYS = 40

KINDS = ("nanp", "toll-free", "premium", "n11", "international", "invalid")

#: What people write numbers with besides digits; removed before anything else.
_PUNCTUATION = frozenset(" -.()/\t")
#: Dialling codes in front of a destination: vertical service codes (*67, *82, GSM *31# and
#: #31#), stray '#' (or '*' not followed by a digit), the rotary form 11XX of *XX and a carrier access code 101XXXX;
#: the last two only when more keys follow (no destination begins with them).
_LEADING_CODE = re.compile(r"\*[0-9]{2}|#[0-9]{2}#|#+(?![0-9]{2}#)|\*+(?![0-9])|11[0-9]{2}(?=.)|101[0-9]{4}(?=.)")
#: Dialling codes after a destination: a vertical service code or stray '#'/'*' keys.
_TRAILING_CODE = re.compile(r"(?:\*[0-9]{2}|#[0-9]{2}#|[*#])$")
_INTERNATIONAL_PREFIXES = ("011", "00", "01")  # direct, ITU, operator-assisted


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """What a dialled string is.

    ``digits`` is the canonical form (see :func:`canonical`): 10 digits for NANP
    numbers (no leading 1), ``011...`` for international, the 3 digits for N11,
    else what remained of the keyed digits.  ``region`` is the state/province/country
    code of the area code (``"MO"``, ``"ON"``, ``"JM"``) or ``""``; ``country`` is
    ``"US"``, ``"CA"``, another ISO code, or ``""`` when unknown.  ``codes`` are the
    dialling codes removed on the way (``("*67", "1010288", "1")``), for the record.
    """

    keyed: str
    digits: str
    kind: str
    npa: str = ""
    nxx: str = ""
    region: str = ""
    country: str = ""
    reason: str = ""
    codes: tuple[str, ...] = ()

    @property
    def is_us(self) -> bool:
        return self.country == "US"


@dataclass(frozen=True, slots=True)
class Destination:
    """A keyed string reduced to the destination a telephone network would reach.

    ``digits``: 10 digits (NANP), ``011`` + country code + number, an N11 code, or
    (with ``problem``) what remained.  ``codes``: the dialling codes removed, in order.
    ``problem``: why this is not a destination at all (empty when it may be one).
    """

    digits: str
    codes: tuple[str, ...] = ()
    problem: str = ""


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
    """Remove the punctuation people write numbers with (spaces, ``-``, ``.``, ``()``, ``/``);
    a leading ``+`` becomes the international prefix ``011``."""
    out = "".join(ch for ch in str(text).strip() if ch not in _PUNCTUATION and not ch.isspace())
    if out.startswith("+"):
        out = "011" + out[1:]
    return out


def canonical(text: str) -> Destination:
    """The destination a keyed or typed string reaches: the one place numbers are canonicalised.

    Never raises; see the module docstring for every form recognised.

    >>> canonical("*67 1010288 1 (800) 555-1212#").digits
    '8005551212'
    >>> canonical("011 1 573 555 0100").digits
    '5735550100'
    """
    keyed = str(text)
    if len(keyed) > 4 * MAX_KEYS:
        return Destination("", problem=f"expected at most {MAX_KEYS} keys, got {len(keyed)} characters")
    s = strip_number(keyed)
    if any(ch not in "0123456789*#+" for ch in s):   # letters, non-ASCII digits
        return Destination(s, problem=f"expected digits only (the keys 0-9, * and #), got {keyed!r}")
    if len(s) > MAX_KEYS:
        return Destination(s, problem=f"expected at most {MAX_KEYS} keys, got {len(s)}")
    codes: list[str] = []
    while m := _LEADING_CODE.match(s):
        codes.append(m.group())
        s = s[m.end():]
    if s.startswith("+"):                            # *67 +1 ...
        s = "011" + s[1:]
    if "+" in s:
        return Destination(s, tuple(codes), f"expected '+' only in front of the number, got {keyed!r}")
    trailing: list[str] = []
    while m := _TRAILING_CODE.search(s):
        trailing.insert(0, m.group())
        s = s[:m.start()]
    if "*" in s or "#" in s:
        return Destination(s, tuple(codes + trailing),
                           f"expected digits only ('*' and '#' are not part of a number), got {keyed!r}")
    if not s:
        return Destination(s, tuple(codes + trailing), f"expected a number, got {keyed!r}")
    digits, prefix, problem = _national_or_international(s)
    if prefix:
        codes.append(prefix)
    return Destination(digits, tuple(codes + trailing), problem)


def _national_or_international(s: str) -> tuple[str, str, str]:
    """(canonical digits, the access prefix removed, problem) of a string of digits."""
    for prefix in _INTERNATIONAL_PREFIXES:
        if s.startswith(prefix):
            rest = s[len(prefix):]
            if rest.startswith("1"):                      # country code 1 is the NANP itself
                national = rest[1:]
                if len(national) != 10:
                    return s, "", (f"expected {prefix} 1 + 10 digits (area code + number), "
                                   f"got {len(national)} digits after {prefix} 1")
                return national, prefix + "1", ""
            if len(rest) < 4 or len(rest) > 15 or rest[0] == "0":
                return s, "", (f"expected {prefix} + a country code and 4..15 digits in all, "
                               f"got {len(rest)} digits" + (" starting with 0" if rest[:1] == "0" else ""))
            return "011" + rest, prefix, ""
    if s.startswith("0"):                                 # operator-assisted: 0 + 10 digits
        if len(s) == 11:
            return s[1:], "0", ""
        return s, "", f"expected 0 + 10 digits (area code + number), got {len(s) - 1} digits after 0"
    if len(s) == 11 and s.startswith("1"):
        return s[1:], "1", ""
    if len(s) == 3 and s in N11_CODES:
        return s, "", ""
    if len(s) != 10:
        return s, "", f"expected 10 digits (area code + number), got {len(s)}"
    return s, "", ""


def classify(text: str) -> NumberInfo:
    """Classify a dialled or typed number by its :func:`canonical` destination; never raises.

    Examples
    --------
    >>> classify("1 (573) 555-0100").digits
    '5735550100'
    >>> classify("18005551212").kind
    'toll-free'
    >>> classify("011 1 800 555 1212").kind
    'toll-free'
    >>> classify("011442079460000").kind
    'international'
    """
    keyed = str(text)
    dest = canonical(keyed)
    digits, codes = dest.digits, dest.codes
    if dest.problem:
        return NumberInfo(keyed, digits, "invalid", reason=dest.problem, codes=codes)
    if digits in N11_CODES:
        return NumberInfo(keyed, digits, "n11", reason=f"{digits} is an N11 service code", codes=codes)
    if digits.startswith("011"):
        country = digits[3:]
        if country.startswith(TOLL_FREE_COUNTRY_CODES):
            return NumberInfo(keyed, digits, "toll-free", codes=codes,
                              reason=f"+{country[:3]} is international freephone")
        if country.startswith(PREMIUM_COUNTRY_CODES):
            return NumberInfo(keyed, digits, "premium", codes=codes,
                              reason=f"+{country[:3]} is an international premium or satellite code")
        return NumberInfo(keyed, digits, "international", reason="international (011) number", codes=codes)
    npa, nxx = digits[:3], digits[3:6]
    if npa[0] in "01" or nxx[0] in "01":
        return NumberInfo(keyed, digits, "invalid", npa, nxx, codes=codes,
                          reason=f"area code and exchange must not start with 0 or 1, got {npa}-{nxx}")
    if npa in N11_CODES:
        return NumberInfo(keyed, digits, "n11", npa, nxx, reason=f"area code {npa} is an N11 code", codes=codes)
    entry = area_codes().get(npa)
    region, country = (entry.region, entry.country) if entry else ("", "")
    if npa in TOLL_FREE_NPAS:
        return NumberInfo(keyed, digits, "toll-free", npa, nxx, reason=f"{npa} is a toll-free area code",
                          codes=codes)
    if npa in PREMIUM_NPAS or nxx in PREMIUM_NXXS:
        return NumberInfo(keyed, digits, "premium", npa, nxx, reason=f"{npa}-{nxx} is a premium number",
                          codes=codes)
    if entry is None or entry.kind != "geographic":
        return NumberInfo(keyed, digits, "invalid", npa, nxx, region, country, codes=codes,
                          reason=f"area code {npa} is not a geographic area code in service")
    if country != "US":
        return NumberInfo(keyed, digits, "international", npa, nxx, region, country, codes=codes,
                          reason=f"area code {npa} is in {region} ({country}), outside the US")
    return NumberInfo(keyed, digits, "nanp", npa, nxx, region, country, codes=codes)


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
