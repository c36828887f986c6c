"""`config.lib.text.storable`: what PostgreSQL cannot hold is replaced, everything else kept."""

from config.lib.text import REPLACEMENT, storable, storable_params


def test_it_replaces_nul_and_lone_surrogates():
    assert storable("STOP\x00now") == f"STOP{REPLACEMENT}now"
    assert storable("a\ud800b\udfffc") == f"a{REPLACEMENT}b{REPLACEMENT}c"


def test_it_keeps_every_other_character_including_emoji_and_controls():
    text = "Stop 😜 ñ \t\r\n\x01 \ufffd"
    assert storable(text) is text


def test_it_makes_names_and_values_of_parameters_storable():
    params = {"Body\x00": "STOP\x00", "From": "+14155550100"}

    assert storable_params(params) == {
        f"Body{REPLACEMENT}": f"STOP{REPLACEMENT}",
        "From": "+14155550100",
    }
