"""Attack mode is the operator's choice at start-up, and only then."""

from __future__ import annotations

import pytest

from relay.config import load


def test_off_by_default_and_whatever_the_token_variable_says():
    config = load([], env={"ECC_RELAY_ATTACK_TOKEN": "t"})
    assert not config.attacks and config.attack_rooms == () and config.attack_token is None


def test_the_flag_the_variable_and_attack_room_switch_it_on():
    assert load(["--attacks"], env={}).attacks
    assert load([], env={"ECC_RELAY_ATTACKS": "1"}).attacks
    assert not load([], env={"ECC_RELAY_ATTACKS": "0"}).attacks
    config = load(["--attack", "lab", "--attack", "lab2"], env={"ECC_RELAY_ATTACK_TOKEN": "t"})
    assert config.attacks and config.attack_rooms == ("lab", "lab2")
    assert config.attack_token == "t"


@pytest.mark.parametrize("argv", [["--attacks", "--redis-url", "redis://127.0.0.1:6379/0"],
                                  ["--attack", "x" * 65]])
def test_refused_with_redis_and_for_an_impossible_room(argv, capsys):
    with pytest.raises(SystemExit):
        load(argv, env={})
    assert "--attack" in capsys.readouterr().err
