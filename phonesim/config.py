"""Configuration: a TOML file, facility profiles shipped as data, and where each value came from.

Where the file comes from, first match wins:

1. ``--config PATH`` on the command line,
2. ``$PHONESIM_CONFIG``,
3. ``./phonesim.toml`` if it exists,
4. built-in defaults only.

The file has four sections::

    [facility]   name, state, area_codes, local_exchanges, profile, adp
    [devices]    keypad, audio, far_end (backend URLs, see README)
    [paths]      database, recordings
    [sip]        registrar, username, password or password_env (a sip: far end's account)
    [profile]    overrides of the facility profile (same keys as the profile files)

A facility profile (``phonesim/facility/profiles/NAME.toml``) holds the rules a
real contract sets: called-party keys, warning interval, call limit, phone hours,
PIN rules, segregation, rates, blocked prefixes.  ``missouri-doc`` is complete and
is the schema: every other profile and every override is laid over it and checked
against it (unknown keys and wrong types are errors naming file, key, expected
form and the bad value).
"""

from __future__ import annotations

import copy
import os
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
        "name": "Jefferson City Correctional Center",
        "state": "MO",
        "area_codes": ["573"],
        "local_exchanges": ["573-751"],
        "profile": DEFAULT_PROFILE,
        "adp": 1900,
        "timezone_offset_h": -6,
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

    def as_dict(self) -> dict[str, Any]:
        return {"facility": dict(self.facility), "devices": dict(self.devices),
                "paths": dict(self.paths), "sip": dict(self.sip),
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

    def resolve_path(self, value: str) -> Path:
        """A path from [paths], relative to the config file's folder (or the cwd)."""
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
    sections = {k: v for k, v in user.items() if k != "profile"}
    unknown = sorted(set(sections) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown section (expected one of: facility, devices, paths, sip, profile), got [{unknown[0]}]",
            source=source, key=unknown[0])
    _merge(top, sections, origins, source=source, prefix="")

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
    _validate_semantics(tree, origins)
    return Config(facility=_sectionize(tree["facility"]), devices=_sectionize(tree["devices"]),
                  paths=_sectionize(tree["paths"]), sip=_sectionize(tree["sip"]),
                  profile=_sectionize(tree["profile"]),
                  source=source, origins=origins)


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
    """The effective configuration as TOML-like text with each value's origin."""
    import json

    lines = [f"# effective configuration (file: {cfg.source})"]
    current = None
    for path, value in _flatten(cfg.shown()).items():
        section, _, key = path.rpartition(".")
        if section != current:
            lines.append(f"\n[{section}]")
            current = section
        lines.append(f"{key} = {json.dumps(value)}  # {cfg.origin(path)}")
    return "\n".join(lines) + "\n"
