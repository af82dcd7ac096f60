"""Configuration: a TOML file, facility profiles shipped as data, and where each value came from.

Where the file comes from, first match wins:

1. ``--config PATH`` on the command line,
2. ``$PHONESIM_CONFIG``,
3. ``./phonesim.toml`` if it exists,
4. built-in defaults only.

The file has these sections::

    [facility]     id, name, state, timezone (IANA), area_codes, local_exchanges, profile, adp
    [devices]      keypad, audio, far_end (backend URLs, see README)
    [paths]        database (a file path or a database URL), recordings
    [sip]          registrar, username, password or password_env (a sip: far end's account)
    [[terminals]]  the wall phones and kiosks ``phonesim facility`` serves: name, kind, unit,
                   keypad, audio, far_end
    [profile]      overrides of the facility profile (same keys as the profile files)

A facility profile (``phonesim/facility/profiles/NAME.toml``) holds the rules a
real contract sets: called-party keys, warning interval, call limit, phone hours,
PIN rules, segregation, rates, blocked prefixes.  ``missouri-doc`` is complete and
is the schema: every other profile and every override is laid over it and checked
against it (unknown keys and wrong types are errors naming file, key, expected
form and the bad value).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from phonesim.exc import ConfigError

BASE_PROFILE = "missouri-doc"
DEFAULT_PROFILE = "missouri-doc"

#: Top-level sections other than [profile], with their defaults (also the schema).
DEFAULTS: dict[str, dict[str, Any]] = {
    "facility": {
        "id": "jccc",                # the facility's record in the database
        "name": "Jefferson City Correctional Center",
        "state": "MO",
        "timezone": "America/Chicago",   # IANA: phone hours follow daylight saving time
        "area_codes": ["573"],
        "local_exchanges": ["573-751"],
        "profile": DEFAULT_PROFILE,
        "adp": 1900,
    },
    "devices": {
        "keypad": "stdin://",
        "audio": "loopback://phone0",
        "far_end": "robot://accept",
    },
    "paths": {
        "database": "phonesim-data/phonesim.sqlite3",
        "recordings": "phonesim-data/recordings",
    },
    "sip": {
        # Registration for a sip: far end (a PBX account).  Empty = no registration.
        "registrar": "",
        "username": "",
        "password": "",          # never printed: `config show` masks it
        "password_env": "",      # or: the name of an environment variable holding it
    },
}

#: One ``[[terminals]]`` table: a wall phone or a kiosk ``phonesim facility`` serves (an empty
#: keypad, audio or far end URL takes ``[devices]``'s).
TERMINAL_TEMPLATE: dict[str, str] = {
    "name": "", "kind": "phone", "unit": "", "keypad": "", "audio": "", "far_end": "",
}
TERMINAL_KINDS = ("phone", "kiosk")

#: Values never printed (``config show``) or logged.
SECRET_KEYS = {"sip.password"}

#: Keys whose values are backend URLs: checked for a scheme when loaded.
URL_KEYS = {("devices", "keypad"), ("devices", "audio"), ("devices", "far_end")}


def profile_names() -> list[str]:
    """The facility profiles shipped with phonesim."""
    folder = resources.files("phonesim.facility") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_profile_file(name: str, *, source: str = "built-in defaults") -> dict[str, Any]:
    if name not in profile_names():
        raise ConfigError(f"expected one of {', '.join(profile_names())}, got {name!r}",
                          source=source, key="facility.profile")
    text = (resources.files("phonesim.facility") / "profiles" / f"{name}.toml").read_text()
    return tomllib.loads(text)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _check_type(expected: Any, value: Any, *, source: str, key: str) -> Any:
    """Return ``value`` if it has the type of ``expected``; ints pass for floats."""
    if isinstance(expected, bool):
        ok = isinstance(value, bool)
    elif isinstance(expected, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"expected a finite number, got {value!r}", source=source, key=key)
    elif isinstance(expected, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(expected, list):
        ok = isinstance(value, list)
        if ok and expected and not isinstance(expected[0], dict):
            item_type = type(expected[0])
            bad = [v for v in value if not isinstance(v, item_type) or isinstance(v, bool) != isinstance(expected[0], bool)]
            if bad:
                raise ConfigError(
                    f"expected a list of {_type_name(expected[0])[2:] if _type_name(expected[0]).startswith('a ') else _type_name(expected[0])}s, got {value!r}",
                    source=source, key=key)
    else:
        ok = isinstance(value, type(expected))
    if not ok:
        raise ConfigError(f"expected {_type_name(expected)}, got {value!r}", source=source, key=key)
    return value


def _merge(base: dict, override: dict, origins: dict, *, source: str, prefix: str) -> None:
    """Lay ``override`` over ``base`` in place, checking keys and types against ``base``."""
    for key, value in override.items():
        path = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(sorted(base))
            raise ConfigError(f"unknown key (expected one of: {known}), got {key!r}",
                              source=source, key=path)
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"expected a table [{path}], got {value!r}", source=source, key=path)
            _merge(base[key], value, origins, source=source, prefix=path + ".")
            continue
        value = _check_type(base[key], value, source=source, key=path)
        if isinstance(base[key], list) and base[key] and isinstance(base[key][0], dict):
            template = base[key][0]
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise ConfigError(f"expected a table, got {item!r}", source=source, key=f"{path}[{i}]")
                for k, v in item.items():
                    if k not in template:
                        raise ConfigError(
                            f"unknown key (expected one of: {', '.join(sorted(template))}), got {k!r}",
                            source=source, key=f"{path}[{i}]")
                    _check_type(template[k], v, source=source, key=f"{path}[{i}].{k}")
                missing = sorted(set(template) - set(item))
                if missing:
                    raise ConfigError(f"missing keys {missing}", source=source, key=f"{path}[{i}]")
        base[key] = copy.deepcopy(value)
        origins[path] = source


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


class Section(dict):
    """A read-only view of a config table with attribute access (``cfg.profile.called_party.accept``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return value

    def __setattr__(self, name: str, value: Any) -> None:  # pragma: no cover - guard
        raise AttributeError("configuration is read-only")


def _sectionize(tree: Any) -> Any:
    if isinstance(tree, dict):
        return Section({k: _sectionize(v) for k, v in tree.items()})
    if isinstance(tree, list):
        return [_sectionize(v) for v in tree]
    return tree


@dataclass
class Config:
    """The effective configuration and where each value came from."""

    facility: Section
    devices: Section
    paths: Section
    profile: Section
    sip: Section
    source: str = "built-in defaults"
    origins: dict[str, str] = field(default_factory=dict)
    terminals: list[Section] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"facility": dict(self.facility), "devices": dict(self.devices),
                "paths": dict(self.paths), "sip": dict(self.sip),
                "terminals": [dict(t) for t in self.terminals],
                "profile": copy.deepcopy(dict(self.profile))}

    def shown(self) -> dict[str, Any]:
        """``as_dict()`` with secrets masked, for printing."""
        tree = self.as_dict()
        for dotted in SECRET_KEYS:
            section, key = dotted.split(".")
            if tree[section][key]:
                tree[section][key] = "********"
        return tree

    def sip_options(self) -> dict[str, str]:
        """The non-empty [sip] settings, as options for a ``sip:`` far end."""
        return {k: v for k, v in self.sip.items() if v}

    def flat(self) -> dict[str, Any]:
        """``{"profile.called_party.accept": "1", ...}`` for every effective value."""
        return _flatten(self.as_dict())

    def origin(self, path: str) -> str:
        return self.origins.get(path, "built-in default")

    def resolve_path(self, value: str) -> Path | str:
        """A path from [paths], relative to the config file's folder (or the cwd); a URL
        (``postgresql://...``, ``sqlite:///...``) as it is (a Path would fold its ``//``)."""
        if "://" in str(value):
            return str(value)
        path = Path(value).expanduser()
        if path.is_absolute() or self.source == "built-in defaults":
            return path
        return Path(self.source).parent / path


def find_config_file(explicit: str | os.PathLike | None = None) -> Path | None:
    """Which file to load, by the precedence in the module docstring."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PHONESIM_CONFIG")
    if env:
        return Path(env)
    local = Path("phonesim.toml")
    return local if local.exists() else None


def load_config(path: str | os.PathLike | None = None, *, search: bool = True,
                overrides: dict[str, Any] | None = None) -> Config:
    """Load and validate the configuration.

    ``path`` names a file explicitly; with ``search`` the precedence of the module
    docstring applies.  ``overrides`` (``{"devices.audio": "null://"}``) come last,
    as command-line options do.
    """
    file = find_config_file(path) if search else (Path(path) if path else None)
    source = str(file) if file else "built-in defaults"
    user: dict[str, Any] = {}
    if file is not None:
        try:
            user = tomllib.loads(file.read_text())
        except FileNotFoundError as err:
            raise ConfigError("expected a readable TOML file, but it does not exist", source=source) from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"expected valid TOML: {err}", source=source) from err
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"expected a readable TOML file: {err}", source=source) from err

    origins: dict[str, str] = {}
    top = copy.deepcopy(DEFAULTS)
    sections = {k: v for k, v in user.items() if k not in ("profile", "terminals")}
    unknown = sorted(set(sections) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown section (expected one of: facility, devices, paths, sip, terminals, profile), "
            f"got [{unknown[0]}]", source=source, key=unknown[0])
    _merge(top, sections, origins, source=source, prefix="")
    terminals = _read_terminals(user.get("terminals", []), source=source)
    if terminals:
        origins["terminals"] = source

    profile_name = top["facility"]["profile"]
    profile = _read_profile_file(BASE_PROFILE)
    if profile_name != BASE_PROFILE:
        chosen = _read_profile_file(profile_name, source=origins.get("facility.profile", source))
        _merge(profile, chosen, origins,
               source=f"profile {profile_name}", prefix="profile.")
    profile_overrides = user.get("profile", {})
    if not isinstance(profile_overrides, dict):
        raise ConfigError(f"expected a table [profile], got {profile_overrides!r}", source=source, key="profile")
    if "name" in profile_overrides:
        raise ConfigError("the profile is chosen with facility.profile, not profile.name",
                          source=source, key="profile.name")
    _merge(profile, profile_overrides, origins, source=source, prefix="profile.")
    for path in _flatten(profile, "profile."):
        origins.setdefault(path, f"profile {BASE_PROFILE}")

    tree = {**top, "profile": profile}
    for dotted, value in (overrides or {}).items():
        node = tree
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"unknown key {dotted!r}", source="command line", key=dotted)
        node[leaf] = _check_type(node[leaf], value, source="command line", key=dotted)
        origins[dotted] = "command line"

    for section, key in URL_KEYS:
        url = tree[section][key]
        if "://" not in url and not url.startswith(("sip:", "sips:")):
            raise ConfigError(f"expected a backend URL like 'scheme://...' (see README), got {url!r}",
                              source=origins.get(f"{section}.{key}", source), key=f"{section}.{key}")
    _register_item_origins(tree, origins)
    _validate_semantics(tree, origins)
    _validate_ranges(tree, origins)
    _validate_forms(tree, origins)
    _validate_facility(tree, origins)
    return Config(facility=_sectionize(tree["facility"]), devices=_sectionize(tree["devices"]),
                  paths=_sectionize(tree["paths"]), sip=_sectionize(tree["sip"]),
                  profile=_sectionize(tree["profile"]),
                  source=source, origins=origins, terminals=[_sectionize(t) for t in terminals])


def _read_terminals(items: Any, *, source: str) -> list[dict[str, str]]:
    """``[[terminals]]``: tables with the keys of :data:`TERMINAL_TEMPLATE`, unique names."""
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise ConfigError(f"expected [[terminals]] tables, got {items!r}", source=source, key="terminals")
    seen: set[str] = set()
    out = []
    for i, item in enumerate(items):
        key = f"terminals[{i}]"
        for k, v in item.items():
            if k not in TERMINAL_TEMPLATE:
                raise ConfigError(f"unknown key (expected one of: {', '.join(TERMINAL_TEMPLATE)}), got {k!r}",
                                  source=source, key=key)
            if not isinstance(v, str):
                raise ConfigError(f"expected a string, got {v!r}", source=source, key=f"{key}.{k}")
        terminal = {**TERMINAL_TEMPLATE, **{k: v.strip() for k, v in item.items()}}
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", terminal["name"]):
            raise ConfigError(f"expected a name of letters, digits, '.', '_' or '-' (up to 64), "
                              f"got {terminal['name']!r}", source=source, key=f"{key}.name")
        if terminal["name"] in seen:
            raise ConfigError(f"expected a name no other terminal has, got {terminal['name']!r} twice",
                              source=source, key=f"{key}.name")
        seen.add(terminal["name"])
        if terminal["kind"] not in TERMINAL_KINDS:
            raise ConfigError(f"expected one of {', '.join(TERMINAL_KINDS)}, got {terminal['kind']!r}",
                              source=source, key=f"{key}.kind")
        for url_key in ("keypad", "audio", "far_end"):
            url = terminal[url_key]
            if url and "://" not in url and not url.startswith(("sip:", "sips:")):
                raise ConfigError(f"expected a backend URL like 'scheme://...' or empty, got {url!r}",
                                  source=source, key=f"{key}.{url_key}")
        out.append(terminal)
    return out


def _validate_facility(tree: dict, origins: dict[str, str]) -> None:
    """The facility's id and time zone."""
    import zoneinfo

    facility = tree["facility"]
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", facility["id"]):
        raise _refuse(origins, "facility.id", "a short id of lower-case letters, digits, '-' or '_' like 'jccc'",
                      facility["id"])
    try:
        zoneinfo.ZoneInfo(facility["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _refuse(origins, "facility.timezone", "an IANA time zone like 'America/Chicago'",
                      facility["timezone"]) from None


def _validate_semantics(tree: dict, origins: dict[str, str]) -> None:
    """Checks beyond types: digit keys, windows, positive durations."""
    def fail(path: str, expected: str, value: Any) -> None:
        source = origins.get(path) or next(
            (origins[k] for k in origins if k.startswith(path + ".") and origins[k] != "built-in default"),
            "built-in default")
        raise ConfigError(f"expected {expected}, got {value!r}", source=source, key=path)

    keys = tree["profile"]["called_party"]
    for name, value in keys.items():
        if len(value) != 1 or value not in "0123456789*#":
            fail(f"profile.called_party.{name}", "one keypad key (0-9, * or #)", value)
    if len(set(keys.values())) != len(keys):
        fail("profile.called_party", "a different key for each choice", dict(keys))
    for section in ("hours", "segregation"):
        for w in tree["profile"][section]["windows"]:
            try:
                parse_window(w)
            except ValueError:
                fail(f"profile.{section}.windows", "'HH:MM-HH:MM'", w)
    # The three-way policy refuses bad settings with the same rules (one place for them).
    from phonesim.facility.threeway import check_settings

    problem = check_settings(tree["profile"]["threeway"])
    if problem is not None:
        fail(f"profile.threeway.{problem[0]}", problem[1], problem[2])
    if tree["profile"]["warning"]["mode"] not in ("message", "beep"):
        fail("profile.warning.mode", "message or beep", tree["profile"]["warning"]["mode"])
    for i, rate in enumerate(tree["profile"]["billing"]["rates"]):
        if rate["cents_per_min"] < 0:
            fail(f"profile.billing.rates[{i}].cents_per_min", "cents >= 0", rate["cents_per_min"])
    if tree["profile"]["pin"]["length"] < 1:
        fail("profile.pin.length", "a length >= 1", tree["profile"]["pin"]["length"])
    for path, value in (("facility.adp", tree["facility"]["adp"]),
                        ("profile.limits.call_limit_s", tree["profile"]["limits"]["call_limit_s"])):
        if value <= 0:
            fail(path, "a number > 0", value)
    if len(tree["facility"]["state"]) != 2 or not tree["facility"]["state"].isalpha():
        fail("facility.state", "a two-letter state code like 'MO'", tree["facility"]["state"])


# --- ranges and forms: every value checked here, once, for `config check` and start-up ----------
#: The sane range (inclusive, in the key's unit) of every numeric key but [threeway]'s; ``[]``
#: stands for every item of a list.  A new numeric key needs one line here, and a test checks
#: that none is missing.
RANGES: dict[str, tuple[float, float]] = {
    "facility.adp": (1, 1_000_000),                        # average daily population
    "profile.warning.first_after_s": (0, 86_400),
    "profile.warning.interval_s": (1, 86_400),
    "profile.warning.duck_db": (0, 60),
    "profile.warning.fade_ms": (0, 1000),
    "profile.limits.call_limit_s": (10, 86_400),
    "profile.limits.warn_before_limit_s[]": (1, 3600),
    "profile.limits.wait_between_calls_s": (0, 7 * 86_400),
    "profile.limits.monthly_quota_min": (0, 31 * 24 * 60),  # 0 = no quota
    "profile.limits.ring_timeout_s": (1, 600),
    "profile.limits.accept_timeout_s": (1, 600),
    "profile.limits.lookup_timeout_s": (1, 300),
    "profile.limits.billing_outage_s": (1, 3600),
    "profile.pin.length": (4, 12),
    "profile.pin.max_failures": (1, 100),
    "profile.pin.lockout_s": (1, 30 * 86_400),
    "profile.pin.lockout_max_s": (1, 30 * 86_400),
    "profile.pin.inmate_max_failures": (1, 1000),
    "profile.pin.inmate_window_s": (60, 365 * 86_400),
    "profile.pin.inmate_lockout_s": (1, 30 * 86_400),
    "profile.pin.first_digit_timeout_s": (1, 300),
    "profile.pin.inter_digit_timeout_s": (1, 60),
    "profile.segregation.calls_per_week": (0, 100),
    "profile.names.record_max_s": (1, 30),
    "profile.segregation.call_limit_s": (10, 86_400),
    "profile.billing.tax_percent": (0, 100),
    "profile.billing.ancillary_fees_cents": (0, 10_000),
    "profile.billing.direct_bill_credit_limit_cents": (0, 10_000_000),
    "profile.billing.unusual_increase_percent": (1, 100_000),
    "profile.billing.unusual_increase_floor_cents": (0, 10_000_000),
    "profile.billing.new_account_review_cents": (1, 10_000_000),
    "profile.billing.courtesy_calls": (0, 100),
    "profile.billing.courtesy_call_max_s": (60, 3600),
    "profile.billing.rates[].cents_per_min": (0, 500),     # $5 a minute: beyond any real tariff
    "profile.handset.dtmf_level_dbm0": (-45, 0),
    "profile.handset.dtmf_twist_db": (-10, 10),
    "profile.handset.dtmf_min_ms": (40, 2000),
    "profile.handset.sidetone_db": (-90, 0),
}

#: Patterns of string values: (regular expression, the expected form in words).
FORMS: dict[str, tuple[str, str]] = {
    "facility.area_codes[]": (r"[2-9][0-9]{2}", "a 3-digit area code like '573'"),
    "facility.local_exchanges[]": (r"[2-9][0-9]{2}-[2-9][0-9]{2}", "an area code and exchange like '573-751'"),
    "profile.numbers.blocked_prefixes[]": (r"N11|[0-9]{1,15}", "'N11' or 1 to 15 digits (the canonical number's start)"),
    "sip.registrar": (r"|sips?:\S+", "empty or a SIP URI like 'sip:pbx.example'"),
    "sip.password_env": (r"|[A-Za-z_][A-Za-z0-9_]*", "empty or the name of an environment variable"),
    "profile.pin.login": (r"pin|id\+pin", "'pin' (the PIN alone) or 'id+pin' (the ID number, then the PIN)"),
    "profile.billing.no_account": (r"courtesy|setup-only|refuse", "courtesy, setup-only or refuse"),
    "profile.family.provider_phone": (r"1?-?[2-9][0-9]{2}-?[2-9][0-9]{2}-?[0-9]{4}",
                                      "a 10-digit NANP number like '1-800-844-6591'"),
    "paths.database": (r"[^\x00]+", "a path"),
    "paths.recordings": (r"[^\x00]+", "a path"),
}


def _origin_of(origins: dict[str, str], path: str) -> str:
    """Where the value at ``path`` came from: its own origin, else the nearest enclosing one."""
    probe = path
    while probe:
        if probe in origins:
            return origins[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return "built-in default"


def _register_item_origins(tree: dict, origins: dict[str, str]) -> None:
    """Give every item of a list of tables (``profile.billing.rates[0].cents_per_min``) the
    origin of its list, so an error about it names the file it came from."""
    for path, value in _flatten(tree).items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                for key in item:
                    origins.setdefault(f"{path}[{i}].{key}", _origin_of(origins, path))


def _values_at(tree: dict, pattern: str) -> list[tuple[str, Any]]:
    """``(path, value)`` for a key pattern of :data:`RANGES`/:data:`FORMS` (``[]`` = every item)."""
    found = [("", tree)]
    for part in pattern.split("."):
        every = part.endswith("[]")
        name = part[:-2] if every else part
        step = []
        for path, node in found:
            if not isinstance(node, dict) or name not in node:
                continue
            child_path = f"{path}.{name}" if path else name
            if every:
                step += [(f"{child_path}[{i}]", item) for i, item in enumerate(node[name])]
            else:
                step.append((child_path, node[name]))
        found = step
    return found


def _refuse(origins: dict[str, str], path: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"expected {expected}, got {value!r}", source=_origin_of(origins, path), key=path)


def _validate_ranges(tree: dict, origins: dict[str, str]) -> None:
    """Every numeric key within its :data:`RANGES` entry."""
    for pattern, (low, high) in RANGES.items():
        for path, value in _values_at(tree, pattern):
            if not low <= value <= high:
                raise _refuse(origins, path, f"a number from {low:,} to {high:,}".replace(",", "_"), value)


def _validate_forms(tree: dict, origins: dict[str, str]) -> None:
    """Strings of the right form, known words, a usable rate table, no control characters."""
    from phonesim.facility.rates import CALL_TYPES, FACILITY_CLASSES, JURISDICTIONS

    for path, value in _flatten(tree).items():
        for item_path, item in ([(path, value)] if not isinstance(value, list) else
                                [(f"{path}[{i}]", v) for i, v in enumerate(value)]):
            if isinstance(item, str) and any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in item):
                raise _refuse(origins, item_path, "text without control characters", item)
    for pattern, (regex, expected) in FORMS.items():
        for path, value in _values_at(tree, pattern):
            if not re.fullmatch(regex, value):
                raise _refuse(origins, path, expected, value)
    billing = tree["profile"]["billing"]
    if billing["facility_class"] not in FACILITY_CLASSES:
        raise _refuse(origins, "profile.billing.facility_class", f"one of {', '.join(FACILITY_CLASSES)}",
                      billing["facility_class"])
    if not billing["rates"]:
        raise _refuse(origins, "profile.billing.rates", "at least one [[profile.billing.rates]] table", [])
    for i, rate in enumerate(billing["rates"]):
        path = f"profile.billing.rates[{i}]"
        for key, known in (("call_type", CALL_TYPES), ("jurisdiction", JURISDICTIONS)):
            if rate[key] not in (*known, "*"):
                raise _refuse(origins, f"{path}.{key}", f"one of {', '.join(known)} or *", rate[key])
        try:
            dt.date.fromisoformat(rate["effective"])
        except ValueError:
            raise _refuse(origins, f"{path}.effective", "a date 'YYYY-MM-DD'", rate["effective"]) from None
    limit_s = tree["profile"]["limits"]["call_limit_s"]
    for i, before_s in enumerate(tree["profile"]["limits"]["warn_before_limit_s"]):
        if before_s >= limit_s:
            raise _refuse(origins, f"profile.limits.warn_before_limit_s[{i}]",
                          f"a warning before the end of the call (< call_limit_s {limit_s})", before_s)


def parse_window(text: str) -> tuple[int, int]:
    """``"06:00-22:30"`` -> minutes since midnight ``(360, 1350)``."""
    start, end = text.split("-")

    def minutes(hhmm: str) -> int:
        hh, mm = hhmm.strip().split(":")
        h, m = int(hh), int(mm)
        if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 1440:
            raise ValueError(hhmm)
        return h * 60 + m

    return minutes(start), minutes(end)


def format_config(cfg: Config) -> str:
    """The effective configuration as TOML that ``--config`` accepts back, each value's origin
    in a comment.

    Secrets and ``profile.name`` (chosen by ``facility.profile``) are printed as comments,
    so loading the text back gives the same configuration, not a masked password.
    """
    lines = [f"# effective configuration (file: {cfg.source})"]
    tree = cfg.as_dict()
    for section in ("facility", "devices", "paths", "sip"):
        lines += _toml_table(tree[section], section, cfg)
    for i, terminal in enumerate(tree["terminals"]):
        lines += _toml_table(terminal, "terminals", cfg, header=f"[[terminals]]  # {cfg.origin('terminals')}",
                             origin_path=f"terminals[{i}]")
    lines += _toml_table(tree["profile"], "profile", cfg)
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    """A TOML value: JSON's strings, numbers, booleans and arrays of them are valid TOML."""
    return json.dumps(value)


def _toml_table(table: dict, path: str, cfg: Config, *, header: str | None = None,
                origin_path: str | None = None) -> list[str]:
    """``[path]`` (or ``header``) and its keys; ``origin_path`` names the table for origins
    (``profile.billing.rates[0]`` for an item of an array of tables)."""
    lines = ["", header or f"[{path}]"]
    nested: list[tuple[str, Any]] = []
    for key, value in table.items():
        dotted = f"{origin_path or path}.{key}"
        if isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict)):
            nested.append((key, value))
        elif dotted in SECRET_KEYS and value:
            lines.append(f"# {_toml_key(key)} = (hidden)  # {cfg.origin(dotted)}")
        elif dotted == "profile.name":
            lines.append(f"# {_toml_key(key)} = {_toml_value(value)}  # chosen by facility.profile")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}  # {cfg.origin(dotted)}")
    for key, value in nested:
        dotted = f"{path}.{_toml_key(key)}"
        if isinstance(value, dict):
            lines += _toml_table(value, dotted, cfg)
            continue
        for i, item in enumerate(value):
            lines += _toml_table(item, dotted, cfg, header=f"[[{dotted}]]  # {cfg.origin(f'{path}.{key}')}",
                                 origin_path=f"{path}.{key}[{i}]")
    return lines
