"""Configuration: precedence, profiles, overrides and the errors a broken file gets."""

from __future__ import annotations

import pytest

from phonesim.config import format_config, load_config, parse_window, profile_names
from phonesim.exc import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "phonesim.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_missouri_profile():
    cfg = load_config(search=False)
    assert cfg.facility.profile == "missouri-doc"
    assert cfg.profile.called_party.accept == "1"
    assert cfg.profile.billing.rates[0].cents_per_min == 5
    assert "800" in cfg.profile.numbers.blocked_prefixes
    assert cfg.profile.threeway.on_confirmed == "disconnect"


def test_federal_bop_profile_overrides_keys_and_intervals(tmp_path):
    cfg = load_config(write(tmp_path, '[facility]\nprofile = "federal-bop"\n'))
    assert cfg.profile.called_party.accept == "5"
    assert cfg.profile.called_party.block == "9"
    assert cfg.profile.warning.interval_s == 300
    assert cfg.profile.limits.call_limit_s == 900
    # keys the BOP file does not set come from the base profile
    assert cfg.profile.pin.inter_digit_timeout_s == 5
    assert cfg.origin("profile.called_party.accept") == "profile federal-bop"
    assert cfg.origin("profile.pin.inter_digit_timeout_s") == "profile missouri-doc"


def test_file_overrides_profile_and_records_origin(tmp_path):
    path = write(tmp_path, '[profile.called_party]\naccept = "3"\n[devices]\naudio = "null://"\n')
    cfg = load_config(path)
    assert cfg.profile.called_party.accept == "3"
    assert cfg.devices.audio == "null://"
    assert cfg.origin("profile.called_party.accept") == str(path)
    assert cfg.origin("devices.keypad") == "built-in default"
    shown = format_config(cfg)
    assert f'accept = "3"  # {path}' in shown


def test_precedence_explicit_then_env_then_cwd(tmp_path, monkeypatch):
    cwd_file = write(tmp_path, '[facility]\nname = "from cwd"\n')
    env_file = tmp_path / "env.toml"
    env_file.write_text('[facility]\nname = "from env"\n')
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[facility]\nname = "explicit"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHONESIM_CONFIG", raising=False)
    assert load_config().facility.name == "from cwd"
    monkeypatch.setenv("PHONESIM_CONFIG", str(env_file))
    assert load_config().facility.name == "from env"
    assert load_config(explicit).facility.name == "explicit"
    assert cwd_file.exists()


def test_command_line_overrides_come_last(tmp_path):
    cfg = load_config(search=False, overrides={"devices.far_end": "robot://decline"})
    assert cfg.devices.far_end == "robot://decline"
    assert cfg.origin("devices.far_end") == "command line"


@pytest.mark.parametrize("dotted", ["profile.nope.x", "profile.warning.mode.m", "nope", "profile.warning"])
def test_a_bad_override_key_is_a_config_error_naming_it(dotted):
    with pytest.raises(ConfigError) as info:
        load_config(search=False, overrides={dotted: 1})
    assert dotted in str(info.value)


@pytest.mark.parametrize(
    ("text", "key", "expected", "bad"),
    [
        ('[facility]\nnmae = "x"\n', "facility.nmae", "unknown key", "'nmae'"),
        ('[profile.limits]\ncall_limit_s = "15m"\n', "profile.limits.call_limit_s", "expected an integer", "'15m'"),
        ('[devices]\nkeypad = "ttyACM0"\n', "devices.keypad", "expected a backend URL", "'ttyACM0'"),
        ('[facility]\nprofile = "texas"\n', "facility.profile", "expected one of federal-bop, missouri-doc", "'texas'"),
        ('[profile.called_party]\naccept = "55"\n', "profile.called_party.accept", "one keypad key", "'55'"),
        ('[profile.called_party]\naccept = "6"\n', "profile.called_party", "a different key for each choice", "'6'"),
        ('[profile.hours]\nwindows = ["6am-10pm"]\n', "profile.hours.windows", "'HH:MM-HH:MM'", "'6am-10pm'"),
        ('[profile.threeway]\non_confirmed = "shout"\n', "profile.threeway.on_confirmed", "log, warn, disconnect", "'shout'"),
        ('[extras]\nx = 1\n', "extras", "unknown section", "[extras]"),
        ('[facility]\narea_codes = [573]\n', "facility.area_codes", "expected a list of strings", "[573]"),
        ('[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\njurisdiction = "*"\n',
         "profile.billing.rates[0]", "missing keys", "cents_per_min"),
        ('[facility\n', None, "expected valid TOML", ""),
    ],
)
def test_broken_config_names_file_key_expected_and_value(tmp_path, text, key, expected, bad):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    if key:
        assert f": {key}: " in message, message
    assert expected in message, message
    assert bad in message, message


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_profiles_shipped():
    assert {"missouri-doc", "federal-bop"} <= set(profile_names())


def test_parse_window():
    assert parse_window("06:00-22:30") == (360, 1350)
    with pytest.raises(ValueError):
        parse_window("25:00-26:00")


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    cfg = load_config(write(tmp_path, '[paths]\ndatabase = "db/x.sqlite3"\n'))
    assert cfg.resolve_path(cfg.paths.database) == tmp_path / "db" / "x.sqlite3"


def test_sip_account_from_the_config_is_never_shown(tmp_path, capsys):
    from phonesim.cli import main

    path = write(tmp_path, '[sip]\nregistrar = "sip:pbx.example"\nusername = "phone1"\n'
                           'password = "hunter2"\n')
    cfg = load_config(path)
    assert cfg.sip_options() == {"registrar": "sip:pbx.example", "username": "phone1",
                                 "password": "hunter2"}
    assert "hunter2" not in format_config(cfg)
    assert main(["--config", str(path), "config", "show"]) == 0
    assert main(["--config", str(path), "config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "********" in out and "phone1" in out


def test_sip_options_reach_a_sip_far_end_but_not_the_robot():
    pytest.importorskip("aiosipua")
    from phonesim.exc import ConfigError as Err
    from phonesim.facility.farend import open_far_end

    # the robot ignores the SIP account; a sip: far end gets it (and checks its names)
    open_far_end("robot://accept", sip={"registrar": "sip:x"}, keys={"accept": "1"}).close()
    with pytest.raises(Err, match="unknown option"):
        open_far_end("sip:alice@127.0.0.1:5999", sip={"bogus": "1"})


# --- ranges: what crashed a call later is refused at load, naming file, key, form and value -----
@pytest.mark.parametrize(("text", "key", "expected", "bad"), [
    ("[profile.billing]\ntax_percent = 1e308\n", "profile.billing.tax_percent", "from 0 to 100", "1e+308"),
    ("[profile.billing]\ntax_percent = nan\n", "profile.billing.tax_percent", "a finite number", "nan"),
    ("[profile.billing]\ntax_percent = -inf\n", "profile.billing.tax_percent", "a finite number", "-inf"),
    ("[profile.billing]\ntax_percent = -1.0\n", "profile.billing.tax_percent", "from 0 to 100", "-1.0"),
    ("[profile.handset]\ndtmf_level_dbm0 = inf\n", "profile.handset.dtmf_level_dbm0", "a finite number", "inf"),
    ("[facility]\ntimezone = \"Mars/Olympus_Mons\"\n", "facility.timezone", "an IANA time zone",
     "'Mars/Olympus_Mons'"),
    ("[profile.billing]\nrates = []\n", "profile.billing.rates", "at least one [[profile.billing.rates]]", "[]"),
    ("[profile.pin]\nlength = 2\n", "profile.pin.length", "from 4 to 12", "2"),
    ("[profile.pin]\nlength = 100\n", "profile.pin.length", "from 4 to 12", "100"),
    ("[profile.warning]\ninterval_s = 0\n", "profile.warning.interval_s", "from 1 to 86_400", "0"),
    ("[profile.warning]\ninterval_s = -30\n", "profile.warning.interval_s", "from 1 to 86_400", "-30"),
    ("[profile.pin]\nmax_failures = 0\n", "profile.pin.max_failures", "from 1 to 100", "0"),
    ('[profile.pin]\nlogin = "voice"\n', "profile.pin.login", "'pin' (the PIN alone) or 'id+pin'", "'voice'"),
    ("[profile.pin]\nlockout_s = -1\n", "profile.pin.lockout_s", "from 1 to 2_592_000", "-1"),
    ('[profile.billing]\nfacility_class = "castle"\n', "profile.billing.facility_class", "one of prison, jail-large",
     "'castle'"),
    ('[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\njurisdiction = "*"\n'
     "cents_per_min = 100000\n", "profile.billing.rates[0].cents_per_min", "from 0 to 500", "100000"),
    ('[[profile.billing.rates]]\neffective = "2026-13-01"\ncall_type = "*"\njurisdiction = "*"\n'
     "cents_per_min = 5\n", "profile.billing.rates[0].effective", "a date 'YYYY-MM-DD'", "'2026-13-01'"),
    ('[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "cash"\njurisdiction = "*"\n'
     "cents_per_min = 5\n", "profile.billing.rates[0].call_type", "one of debit, collect, prepaid or *", "'cash'"),
    ("[profile.limits]\nwarn_before_limit_s = [60, 0]\n", "profile.limits.warn_before_limit_s[1]",
     "from 1 to 3_600", "0"),
    ("[profile.limits]\ncall_limit_s = 60\nwarn_before_limit_s = [60]\n", "profile.limits.warn_before_limit_s[0]",
     "< call_limit_s 60", "60"),
    ('[facility]\narea_codes = ["57"]\n', "facility.area_codes[0]", "a 3-digit area code", "'57'"),
    ('[facility]\nlocal_exchanges = ["573751"]\n', "facility.local_exchanges[0]", "like '573-751'", "'573751'"),
    ('[profile.numbers]\nblocked_prefixes = ["1-900"]\n', "profile.numbers.blocked_prefixes[0]", "'N11' or 1 to 15",
     "'1-900'"),
    ('[facility]\nname = "Jail\\u001b[31m"\n', "facility.name", "text without control characters", "'Jail\\x1b[31m'"),
    ('[paths]\ndatabase = ""\n', "paths.database", "a path", "''"),
    ('[sip]\nregistrar = "pbx.example"\n', "sip.registrar", "a SIP URI", "'pbx.example'"),
    ('[sip]\npassword_env = "MY PASSWORD"\n', "sip.password_env", "an environment variable", "'MY PASSWORD'"),
    ("[facility]\nadp = 5000000\n", "facility.adp", "from 1 to 1_000_000", "5000000"),
])
def test_values_out_of_range_name_file_key_expected_and_value(tmp_path, text, key, expected, bad):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: expected "), message
    assert expected in message and message.endswith(f"got {bad}"), message


def test_the_same_checks_apply_to_command_line_overrides():
    with pytest.raises(ConfigError, match=r"^command line: profile\.pin\.length: expected a number from 4 to 12, "
                                          r"got 99$"):
        load_config(search=False, overrides={"profile.pin.length": 99})


def test_a_value_from_the_file_is_never_called_a_built_in_default(tmp_path):
    """The rate table came from the file: an error in one of its rows names the file."""
    path = write(tmp_path, '[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\n'
                           'jurisdiction = "*"\ncents_per_min = -5\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: profile.billing.rates[0].cents_per_min: "), info.value


def test_every_numeric_key_has_a_range():
    """Adding a numeric key means adding its line to RANGES ([threeway] is checked on its own)."""
    from phonesim.config import RANGES, _flatten

    cfg = load_config(search=False)
    numeric = set()
    for path, value in _flatten(cfg.as_dict()).items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            numeric |= {f"{path}[].{k}" for k, v in value[0].items() if type(v) in (int, float)}
        elif isinstance(value, list) and value and type(value[0]) in (int, float):
            numeric.add(f"{path}[]")
        elif type(value) in (int, float):
            numeric.add(path)
    numeric = {p for p in numeric if not p.startswith("profile.threeway.")}
    assert numeric - set(RANGES) == set()
    assert set(RANGES) - numeric == set()  # and no stale entries


def test_the_shipped_profiles_pass_every_check(tmp_path):
    for name in profile_names():
        load_config(write(tmp_path, f'[facility]\nprofile = "{name}"\n'))


# --- config show is TOML that --config accepts back ---------------------------------------------
@pytest.mark.parametrize("text", [
    "",
    '[facility]\nprofile = "federal-bop"\nname = "Quote \\" and \\\\ backslash, ünïcode"\n',
    '[sip]\nregistrar = "sip:pbx.example"\nusername = "phone1"\npassword = "hunter2"\n'
    '[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "debit"\njurisdiction = "local"\n'
    'cents_per_min = 4\n[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\n'
    'jurisdiction = "*"\ncents_per_min = 7\n[profile.billing]\ntax_percent = 7.25\n',
])
def test_config_show_round_trips_through_load_config(tmp_path, text):
    import tomllib

    original = load_config(write(tmp_path, text))
    shown = format_config(original)
    tomllib.loads(shown)  # valid TOML, not TOML-like
    again_path = tmp_path / "again.toml"
    again_path.write_text(shown)
    again = load_config(again_path)
    expected = original.as_dict()
    expected["sip"]["password"] = ""  # a secret is shown as a comment, never as a value
    assert again.as_dict() == expected
    assert "hunter2" not in shown


def test_config_show_marks_each_origin(tmp_path):
    path = write(tmp_path, '[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\n'
                           'jurisdiction = "*"\ncents_per_min = 7\n')
    shown = format_config(load_config(path))
    assert f"[[profile.billing.rates]]  # {path}\neffective = \"2026-01-01\"  # {path}\n" in shown
    assert "call_limit_s = 900  # profile missouri-doc" in shown
    assert 'keypad = "stdin://"  # built-in default' in shown
    assert '# name = "missouri-doc"  # chosen by facility.profile' in shown
