"""The draw-dependent words of the prose: every case says something true and complete."""
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import shrinkage as sk
from shrinkage import verdicts


def test_count_of_agrees_in_number():
    assert verdicts.count_of(1, "observation") == "1 observation"
    assert verdicts.count_of(3, "observation") == "3 observations"
    assert verdicts.count_of(0, "cluster") == "0 clusters"


def stand_in(singular, intercept=0.3, slope=0.05, correlation=0.2, model="slope"):
    return SimpleNamespace(singular=singular, model=model, variance={
        "intercept": intercept, "slope": slope, "correlation": correlation})


def test_singular_verdict_names_the_boundary():
    assert verdicts.singular_verdict(stand_in(False)) == "not singular"
    assert "correlation of intercepts and slopes is estimated as -1" in verdicts.singular_verdict(
        stand_in(True, correlation=-1.0))
    assert "correlation of intercepts and slopes is estimated as +1" in verdicts.singular_verdict(
        stand_in(True, correlation=1.0))
    assert "variance of the slopes is estimated as zero" in verdicts.singular_verdict(
        stand_in(True, slope=0.0, correlation=np.nan))
    assert "variance of the intercepts" in verdicts.singular_verdict(
        stand_in(True, intercept=0.0, correlation=np.nan))


def test_singular_verdict_on_a_real_boundary_fit():
    # few_obs at seed 1 ends on the boundary: lme4 gives corr -1.00 and "boundary (singular)
    # fit" for lmer(y ~ x + (x | cluster), create_data(obs_per_cluster = 3, seed = 1)).
    fit = sk.fit_models(sk.simulate(replace(sk.SCENARIOS["few_obs"], seed=1)))
    assert verdicts.singular_verdict(fit).startswith("singular: the correlation")
    assert verdicts.correlation_verdict(fit, 0).startswith("sits on the boundary")


@pytest.mark.parametrize("r, phrase", [(0.1, "is close to"), (-0.35, "is some way from"),
                                       (0.8, "is far from")])
def test_correlation_verdict_grades_the_distance_from_the_truth(r, phrase):
    assert verdicts.correlation_verdict(stand_in(False, correlation=r), 0) == (
        f"{phrase} its true value of 0")


def fractions(sizes, intercepts, slopes):
    return pd.DataFrame({"n": sizes, "intercept": intercepts, "slope": slopes})


def test_movement_by_size_compares_the_smaller_and_larger_halves():
    # Median size 3: clusters of 1 and 2 against those of 4 and 5.
    table = fractions([1, 2, 3, 4, 5], [0.5, 0.3, 0.2, 0.1, 0.1], [np.nan, 0.4, 0.2, 0.1, 0.3])
    text = verdicts.movement_by_size(table)
    assert text.startswith("The 2 clusters smaller than the median size of 3 observations")
    assert "move a median 40% of the way in their intercepts and 40% in their slopes" in text
    assert "the 2 larger ones move 10% and 20%" in text
    assert "further than the large ones in their intercepts" in text
    assert "further than them in their slopes" in text
    same = verdicts.movement_by_size(fractions([10] * 3, [0.2, 0.3, 0.4], [0.5, 0.5, 0.5]))
    assert same.startswith("Cluster sizes hardly differ") and "nan" not in same


@pytest.mark.parametrize("first, second, words", [(0.30, 0.20, "further than"),
                                                  (0.20, 0.21, "about as far as"),
                                                  (0.10, 0.20, "less far than")])
def test_compare_fractions(first, second, words):
    assert verdicts.compare_fractions(first, second) == words


@pytest.mark.parametrize("sizes, start", [([2, 3], "No cluster"), ([1, 3], "1 cluster is"),
                                          ([1, 1, 4], "2 clusters are")])
def test_singletons_sentence(sizes, start):
    fit = SimpleNamespace(clusters=pd.DataFrame({"n": sizes}))
    assert verdicts.singletons(fit).startswith(start)


def test_share_outside_verdict_names_what_the_table_shows():
    shares = pd.DataFrame({"own": [0.05, 0.0]}, index=["few_obs", "more_variance"])
    assert verdicts.share_outside_verdict(shares, 0.99) == (
        "In few obs, more than 1% of the own estimates fall outside it; in the other scenario, no more.")
    assert "every scenario" in verdicts.share_outside_verdict(shares.clip(lower=0.02), 0.99)
    assert "no scenario" in verdicts.share_outside_verdict(shares.clip(upper=0.0), 0.99)


@pytest.mark.parametrize("r, word", [(0.1, "weak"), (-0.29, "weak"), (0.45, "moderate"),
                                     (-0.75, "strong")])
def test_correlation_strength(r, word):
    assert verdicts.correlation_strength(r) == word


def test_share_worse_counts_clusters_with_a_larger_error():
    errors = pd.DataFrame({"none_intercept": [0.1, -0.5, 0.2, np.nan],
                           "partial_intercept": [0.2, 0.1, -0.3, 0.0]})
    assert verdicts.share_worse(errors, "intercept") == pytest.approx(2 / 3)


@pytest.mark.parametrize("error, other, words", [(97.0, 100.0, "3% lower than"),
                                                 (100.5, 100.0, "about the same as"),
                                                 (110.0, 100.0, "10% higher than")])
def test_compare_errors(error, other, words):
    assert verdicts.compare_errors(error, other) == words


def test_lme4_agreement_reads_the_digits_lme4_prints():
    # lme4's own numbers, rounded as its summary prints them, agree with themselves "to
    # every printed digit"; a criterion 0.06 away (a different first decimal) does not.
    lme4 = sk.lme4_fit("baseline")
    names = list(lme4["fixed_effects"])
    as_fit = SimpleNamespace(
        reml_criterion=lme4["reml_criterion"], variance=lme4["variance"],
        fixed_effects=pd.DataFrame(lme4["fixed_effects"]).T.loc[names, ["estimate", "std_error"]])
    assert verdicts.lme4_agreement(as_fit, lme4, same_draw=True).endswith("to every printed digit")
    as_fit.reml_criterion = round(lme4["reml_criterion"], 1) + 0.06
    assert verdicts.lme4_agreement(as_fit, lme4, same_draw=True).endswith(
        "to within rounding of the last printed digit")
    assert "seed 888" in verdicts.lme4_agreement(as_fit, lme4, same_draw=False)


def test_textbook_agreement_names_the_parts_that_are_off():
    moved = pd.Series({"intercept": 0.30, "slope": 0.60})
    assert verdicts.textbook_agreement(moved, moved + 0.04) == "close to what the clusters moved"
    phrase = verdicts.textbook_agreement(moved, pd.Series({"intercept": 0.31, "slope": 0.50}))
    assert phrase.startswith("some way from what the clusters moved for the slopes,")
    both = verdicts.textbook_agreement(moved, moved - 0.2)
    assert "for the intercepts and the slopes" in both


def test_change_between_and_nearer_words():
    assert verdicts.change_word(2.0, 1.0) == "falls"
    assert verdicts.change_word(1.0, 2.0) == "rises"
    assert verdicts.change_word(1.0, 1.0) == "stays"
    assert verdicts.change_word(1.0, 0.5, "shorter", "longer") == "shorter"
    assert verdicts.between_word(2.4, 2.2, 5.9) == "between"
    assert verdicts.between_word(2.4, 5.9, 2.2) == "between"
    assert verdicts.between_word(6.0, 2.2, 5.9) == "outside"
    assert verdicts.nearer_word(2.4, 2.2, 5.9, "within", "between") == "within"
    assert verdicts.nearer_word(5.0, 2.2, 5.9, "within", "between") == "between"
