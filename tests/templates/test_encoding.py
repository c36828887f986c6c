"""SMS encoding and segment counts, held to Twilio's reference calculator.

`data/segment_corpus.json` is what the npm package `sms-segments-calculator` answered for several
hundred bodies, with and without Smart Encoding (regenerate it with `make_segment_corpus.mjs`).
The hand-written tests below spell out the rules of docs/rules.md#encoding-and-segments.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from templates.encoding import GSM_7, UCS_2, Analysis, analyze, smart_encode

CORPUS = json.loads(
    (Path(__file__).parent / "data" / "segment_corpus.json").read_text(encoding="utf-8")
)
CASES: list[dict[str, Any]] = CORPUS["cases"]


def digits(n: int) -> str:
    return ("1234567890" * (n // 10 + 1))[:n]


def as_recorded(analysis: Analysis, text: str, smart: bool) -> dict[str, Any]:
    """The analysis in the corpus's shape: the text only when Smart Encoding changed it."""
    result: dict[str, Any] = {
        "encoding": analysis.encoding,
        "segments": analysis.segments,
        "characters": analysis.characters,
        "graphemes": analysis.graphemes,
        "units": analysis.units,
        "non_gsm": list(analysis.non_gsm),
    }
    if smart and analysis.text != text:
        result["text"] = analysis.text
    return result


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_it_agrees_with_the_reference_calculator(case: dict[str, Any]) -> None:
    text = case["text"]

    assert as_recorded(analyze(text), text, smart=False) == case["plain"]
    assert as_recorded(analyze(text, smart_encoding=True), text, smart=True) == case["smart"]


def test_it_has_a_corpus_that_covers_both_encodings_and_smart_encoding() -> None:
    assert len(CASES) >= 700
    assert {case["plain"]["encoding"] for case in CASES} == {GSM_7, UCS_2}
    assert max(case["plain"]["segments"] for case in CASES) >= 10
    assert sum("text" in case["smart"] for case in CASES) >= 100


@pytest.mark.parametrize(
    ("length", "segments", "per_segment"),
    [(0, 1, 160), (160, 1, 160), (161, 2, 153), (306, 2, 153), (307, 3, 153)],
)
def test_it_fits_160_gsm_septets_alone_and_153_per_part(
    length: int, segments: int, per_segment: int
) -> None:
    analysis = analyze(digits(length))

    assert analysis.encoding == GSM_7
    assert analysis.segments == segments
    assert analysis.per_segment == per_segment
    assert analysis.characters == length


@pytest.mark.parametrize(("length", "segments"), [(68, 1), (69, 2)])
def test_it_counts_an_emoji_as_two_ucs2_units(length: int, segments: int) -> None:
    analysis = analyze("😜" + digits(length))

    assert analysis.encoding == UCS_2
    assert analysis.segments == segments
    assert analysis.units == length + 2
    assert analysis.characters == length + 1
    assert analysis.non_gsm == ("😜",)


@pytest.mark.parametrize("extension", ["€", "{", "}", "[", "]", "~", "|", "\\", "^", "\f"])
@pytest.mark.parametrize(("length", "segments"), [(158, 1), (159, 2)])
def test_it_counts_an_extension_character_as_two_septets(
    extension: str, length: int, segments: int
) -> None:
    analysis = analyze(extension + digits(length))

    assert analysis.encoding == GSM_7
    assert analysis.segments == segments
    assert analysis.characters == length + 2
    assert analysis.non_gsm == ()


def test_it_never_splits_an_escape_pair_across_segments() -> None:
    # 306 septets would fill two parts exactly, but € would straddle septets 153-154.
    analysis = analyze(digits(152) + "€" + digits(152))

    assert analysis.units == 306
    assert analysis.segments == 3


def test_it_never_splits_a_surrogate_pair_across_segments() -> None:
    # 134 units would fill two parts exactly, but the emoji would straddle units 67-68.
    analysis = analyze(digits(66) + "😜" + digits(66))

    assert analysis.units == 134
    assert analysis.segments == 3


def test_it_never_splits_a_grapheme_cluster_across_segments() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"  # 11 UTF-16 units, one character

    alone = analyze(family)
    assert (alone.characters, alone.units, alone.non_gsm) == (1, 11, (family,))
    # 60 + 11 units: the family starts the second part instead of ending the first.
    assert analyze(digits(60) + family).segments == 2
    assert analyze(digits(59) + family).segments == 1


def test_it_keeps_the_references_count_for_a_cluster_longer_than_a_segment() -> None:
    # The reference moves the 100-unit cluster whole into a second part, leaving the first
    # with its header only. Twilio bills what its calculator says, so we count the same.
    assert analyze("a" + "\u0301" * 99).segments == 2


def test_it_overfills_the_second_segment_as_the_reference_does() -> None:
    # Clusters of 60, 10 and 60 units, then 20 digits. A greedy fill gives 60 | 10 | 60+7 | 13,
    # but the reference, once the first part overflows, moves the 10 along and appends the next
    # 60 without checking the fit: 60 | 10+60 | 20. Three segments, as Twilio's calculator says.
    body = "a" + "\u0301" * 59 + "b" + "\u0301" * 9 + "c" + "\u0301" * 59 + digits(20)

    assert analyze(body).segments == 3


@pytest.mark.parametrize(("count", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_it_sends_lowercase_c_cedilla_as_ucs2(count: int, segments: int) -> None:
    analysis = analyze("ç" * count)

    assert analysis.encoding == UCS_2
    assert analysis.segments == segments
    assert analysis.non_gsm == ("ç",)


def test_it_sends_uppercase_c_cedilla_as_gsm7() -> None:
    analysis = analyze("Ç" * 160)

    assert (analysis.encoding, analysis.segments) == (GSM_7, 1)


def test_it_lists_each_character_forcing_ucs2_once_in_order_of_appearance() -> None:
    analysis = analyze("Café “déjà” vu ç, à bientôt ç 😜 🇫🇷 e\u0301")

    assert analysis.encoding == UCS_2
    assert analysis.non_gsm == ("“", "”", "ç", "ô", "😜", "🇫🇷", "e\u0301")


def test_it_counts_crlf_as_two_characters() -> None:
    analysis = analyze("a\r\nb\nc")

    assert (analysis.encoding, analysis.characters, analysis.graphemes) == (GSM_7, 6, 6)


def test_it_replaces_look_alikes_with_smart_encoding() -> None:
    body = "“Hi” \u2013 it\u2019s ready… • see you"  # en dash, right single quote

    assert analyze(body).encoding == UCS_2
    analysis = analyze(body, smart_encoding=True)
    assert analysis.text == '"Hi" - it\'s ready... - see you'
    assert analysis.encoding == GSM_7
    assert analysis.replaced == (
        ("“", '"'),
        ("”", '"'),
        ("\u2013", "-"),
        ("\u2019", "'"),
        ("…", "..."),
        ("•", "-"),
    )
    assert smart_encode(body) == analysis.text


def test_it_widens_spaces_and_drops_zero_width_characters_as_twilio_does() -> None:
    # Twilio's table turns a no-break space into two spaces and a tab into seven.
    assert smart_encode("a\u00a0b\tc\u200bd\ufeff") == "a  b       cd"


def test_it_leaves_characters_without_a_look_alike_to_ucs2() -> None:
    analysis = analyze("Merci ç 😜", smart_encoding=True)

    assert analysis.encoding == UCS_2
    assert analysis.replaced == ()
    assert analysis.non_gsm == ("ç", "😜")


def test_it_reports_no_replacements_without_smart_encoding() -> None:
    analysis = analyze("“Hi”")

    assert analysis.text == "“Hi”"
    assert analysis.replaced == ()


def test_it_reads_a_surrogate_pair_as_the_character_it_encodes() -> None:
    analysis = analyze("\ud83d\ude1c" + digits(69))

    assert analysis.text == "😜" + digits(69)
    assert (analysis.segments, analysis.units, analysis.non_gsm) == (2, 71, ("😜",))


def test_it_returns_an_immutable_analysis() -> None:
    analysis = analyze("hello")

    with pytest.raises(dataclasses.FrozenInstanceError):
        analysis.segments = 2  # type: ignore[misc]
