"""The rule that names a winning variant: a significant two-proportion z-test, or no winner."""

import pytest

from config.lib.significance import compare_variants, two_proportion_p


def counts(delivered, **metrics):
    return {"delivered": delivered, "sent": delivered, **metrics}


def test_it_names_the_better_variant_when_the_difference_is_significant():
    result = compare_variants([("A", counts(950, clicks_human=30)),
                               ("B", counts(940, clicks_human=80))])  # fmt: skip

    assert result.metric == "clicks_human" and result.winner == "B"
    assert result.p_value < 0.001


def test_it_names_no_winner_when_the_difference_may_be_chance():
    result = compare_variants([("A", counts(500, clicks_human=30)),
                               ("B", counts(500, clicks_human=36))])  # fmt: skip

    assert result.winner is None and "No significant difference" in result.note


def test_it_names_no_winner_on_too_few_outcomes():
    result = compare_variants([("A", counts(40, replies=0)), ("B", counts(40, replies=4))])

    assert result.winner is None and "Too few outcomes" in result.note


def test_conversions_decide_before_clicks():
    result = compare_variants([("A", counts(1000, clicks_human=200, conversions=10)),
                               ("B", counts(1000, clicks_human=50, conversions=40))])  # fmt: skip

    assert result.metric == "conversions" and result.winner == "B"


def test_three_variants_need_the_stricter_bonferroni_threshold():
    # B against A alone: p is about 0.03, under 0.05 but not under 0.025.
    pair = [("A", counts(1000, replies=50)), ("B", counts(1000, replies=72))]
    assert compare_variants(pair).winner == "B"
    three = [*pair, ("C", counts(1000, replies=51))]
    assert compare_variants(three).winner is None


def test_the_p_value_matches_the_textbook():
    # 45/100 against 30/100: z = 2.19, two-sided p = 0.0285.
    assert two_proportion_p(45, 100, 30, 100) == pytest.approx(0.0285, abs=0.0005)
