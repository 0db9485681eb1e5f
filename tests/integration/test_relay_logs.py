"""A relay started from a notebook keeps its log out of the notebook: its INFO lines go to a
file (students read red stderr as errors), for the attack relay of notebook 04 as for the
local one."""

from __future__ import annotations

from ecc_widgets import localrelay
from ecc_widgets.mallory_panel import MalloryClient, start_attack_relay


def test_the_attack_relay_logs_to_a_file_not_into_the_notebook(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    url, token, process = start_attack_relay(room="lab", idle_exit=60)
    try:
        assert isinstance(MalloryClient(url, token).state(), dict)  # it is up and answers
    finally:
        process.terminate()
        process.wait(10)
    out, err = capfd.readouterr()
    assert "INFO" not in out + err and "listening" not in out + err, (out + err)[-500:]
    port = int(url.rsplit(":", 1)[1])
    log = localrelay.log_path(port).read_text()
    assert str(tmp_path) in str(localrelay.log_path(port))
    assert "attack relay started" in log and "listening on" in log
