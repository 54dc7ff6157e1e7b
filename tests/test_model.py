"""The fail-risk model: time-aware stages, no label leakage, the scoring output, top factors in words."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.datasets.uci import load_uci_dir
from passcompass_assets.core.ml.cross_validation import BRIER_TOLERANCE
from passcompass_assets.core.ml.explain import FACTOR_SEPARATOR, assess, typical_values
from passcompass_assets.core.ml.features import candidate_columns, model_frame
from passcompass_assets.core.ml.fitting import FittedStages, fit_and_evaluate
from passcompass_assets.core.ml.model import OUTPUT_COLUMNS, FailRiskModel
from passcompass_assets.core.ml.pipeline import SPARSE_K, build_classifier
from passcompass_assets.core.ml.stages import STAGES
from passcompass_assets.core.ml.wording import AREAS
from passcompass_assets.core.periods import Period
from passcompass_assets.core.reports.build import build_report
from passcompass_assets.core.reports.render import RENDERERS, to_html, to_json

UCI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"
# The course is an input on purpose (courses differ in how many fail); identities, dates and labels never are.
NOT_INPUTS = {"final_grade", "user_id", "period_id", "as_of_date", "grade_max", "pass_mark"}


@pytest.fixture(scope="module")
def uci() -> pd.DataFrame:
    if not (UCI_DIR / "student-mat.csv").exists():
        pytest.skip(f"UCI Student Performance files not found at {UCI_DIR}")
    return load_uci_dir(UCI_DIR)


@pytest.fixture(scope="module")
def fitted(uci: pd.DataFrame) -> FittedStages:
    # Columns the UCI data lacks (the demo's attendance and LMS signals) arrive entirely empty.
    frame = uci.assign(attendance_rate=np.nan, lms_logins=pd.NA)
    return fit_and_evaluate(frame, n_repeats=1)


@pytest.fixture(scope="module")
def model(fitted: FittedStages) -> FailRiskModel:
    assert fitted.model is not None
    return fitted.model


def test_catalog_stages_never_offer_a_label() -> None:
    labels = {c.name for c in load_catalog().labels}
    for stage in STAGES:
        assert labels.isdisjoint(candidate_columns(stage))
    assert "interim_grade_1" not in candidate_columns(STAGES[0])
    assert "interim_grade_2" not in candidate_columns(STAGES[1])


def test_one_pipeline_per_stage_with_the_grades_it_may_know(model: FailRiskModel) -> None:
    assert model.stage_names == ["no_interim", "interim_1", "interim_2"]
    columns = {name: set(stage.columns) for name, stage in model.stages.items()}
    for used in columns.values():
        assert used.isdisjoint(NOT_INPUTS)
        assert {"attendance_rate", "lms_logins"}.isdisjoint(used)  # all missing at fit time: dropped
    assert {"interim_grade_1", "interim_grade_2"}.isdisjoint(columns["no_interim"])
    assert "interim_grade_1" in columns["interim_1"] and "interim_grade_2" not in columns["interim_1"]
    assert {"interim_grade_1", "interim_grade_2"} <= columns["interim_2"]
    assert {"past_failures", "absences", "study_time"} <= columns["no_interim"]
    # Sensitive attributes are audit columns by default: stored, never model inputs.
    assert {"sex", "age", "health", "mother_education", "guardian"}.isdisjoint(set.union(*columns.values()))


def test_each_row_is_scored_at_the_latest_stage_its_data_supports(model: FailRiskModel, uci: pd.DataFrame) -> None:
    frame = uci.head(9).copy()
    frame.loc[0:2, ["interim_grade_1", "interim_grade_2"]] = np.nan
    frame.loc[3:5, "interim_grade_2"] = np.nan
    out = model.predict(frame)
    assert out["stage"].tolist() == ["no_interim"] * 3 + ["interim_1"] * 3 + ["interim_2"] * 3
    assert out["signals_available"].tolist() == (
        ["no interim grade yet"] * 3 + ["first interim grade"] * 3 + ["both interim grades"] * 3
    )


def test_final_grade_has_no_influence_on_predictions(model: FailRiskModel, uci: pd.DataFrame) -> None:
    frame = uci.sample(200, random_state=3).reset_index(drop=True)
    frame.loc[frame.index[:60], "interim_grade_2"] = np.nan
    frame.loc[frame.index[:30], "interim_grade_1"] = np.nan
    reference = model.predict(frame)
    shuffled = frame.assign(final_grade=np.random.default_rng(0).permutation(frame["final_grade"].to_numpy()))
    for changed in (shuffled, frame.assign(final_grade=0.0), frame.drop(columns=["final_grade"])):
        pd.testing.assert_frame_equal(model.predict(changed), reference)


def test_output_columns_ranges_and_the_course_scale(model: FailRiskModel, uci: pd.DataFrame) -> None:
    frame = uci.sample(100, random_state=5).reset_index(drop=True)
    out = model.predict(frame)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert out["user_id"].tolist() == frame["user_id"].tolist()
    assert out["fail_probability"].between(0, 1).all()
    assert out["predicted_final_grade"].between(0, 20).all()
    # The same students on a 0-100 scale (pass at 50): same risk, grades five times larger.
    percent = frame.assign(
        interim_grade_1=frame["interim_grade_1"] * 5, interim_grade_2=frame["interim_grade_2"] * 5, grade_max=100.0
    ).assign(pass_mark=50.0)
    rescaled = model.predict(percent)
    np.testing.assert_allclose(rescaled["fail_probability"], out["fail_probability"], atol=1e-9)
    np.testing.assert_allclose(rescaled["predicted_final_grade"], out["predicted_final_grade"] * 5, atol=1e-6)


def test_predictions_track_the_outcome(model: FailRiskModel, uci: pd.DataFrame) -> None:
    out = model.predict(uci)  # in-sample, so only a sanity check; the real measure is the CV metrics
    failed = (uci["final_grade"] < uci["pass_mark"]).to_numpy()
    assert out["fail_probability"][failed].mean() > 0.6 > 0.2 > out["fail_probability"][~failed].mean()
    assert np.sqrt(np.mean((out["predicted_final_grade"] - uci["final_grade"]) ** 2)) < 2.5


def _factors(text: str) -> list[str]:
    return text.split(FACTOR_SEPARATOR) if text else []


def test_reasons_are_short_sentences_in_the_courses_units(model: FailRiskModel, uci: pd.DataFrame) -> None:
    out = model.predict(uci)
    factors = out["top_factors"].map(_factors)
    assert factors.map(len).between(0, 3).all()
    at_risk = out["fail_probability"] >= 0.5
    assert (factors[at_risk].map(len) >= 1).all()
    for named, structured in zip(factors, out["factors"], strict=True):
        reasons = [f for f in json.loads(structured) if f["kind"] == "reason"]
        assert [f["text"] for f in reasons] == named  # the sentence beside its structured factor
        for factor in reasons:
            # Only what raises the risk, never a value the platform lacks, on the risky side of the course.
            assert factor["direction"] == "raises risk" and factor["effect"] >= 0.01
            assert factor["value"] is not None and factor["area"] in AREAS
            assert len(factor["text"].split()) <= 14 and "nan" not in factor["text"].lower()
            assert "(raises risk)" not in factor["text"] and "% of the scale" not in factor["text"]
        areas = [AREAS.index(f["area"]) for f in reasons]
        assert areas == sorted(areas)  # grouped by area
    grade = out["top_factors"].str.extract(r"Second interim grade (\d+)/20, course (\d+)/20").dropna().astype(int)
    assert len(grade) > 100 and (grade[0] < grade[1]).all()  # a grade named as a reason is below the course's
    weakest = uci.assign(interim_grade_1=3.0, interim_grade_2=2.0, past_failures=3).head(1)
    scored = model.predict(weakest)
    # One student alone is no course to compare with: the typical student the model learnt from instead.
    assert _factors(scored["top_factors"].iloc[0])[0].startswith("Second interim grade 2/20, typical student 1")
    # Past failures are background: a fact the student brings along, never among the reasons to act on.
    early = weakest.assign(interim_grade_1=np.nan, interim_grade_2=np.nan)  # no grade yet: the boosted trees
    assert not any("Failed" in f for f in _factors(model.predict(early)["top_factors"].iloc[0]))
    background = _factors(model.predict(early)["background_factors"].iloc[0])
    assert "Failed 3 courses before, typical student none" in background


def test_a_course_lacking_inputs_reads_no_nan_in_any_format(model: FailRiskModel, uci: pd.DataFrame) -> None:
    """A course whose uploads have no absences, and a student of whom nothing is known: "no data yet on
    absences", "not enough data", never ``nan`` (CSV, JSON, HTML)."""
    course = uci[uci["course_id"] == uci["course_id"].iloc[0]].drop(columns=["absences"]).head(60).copy()
    course["term_week"] = 8.0
    nothing = [c for c in course.columns if c not in ("user_id", "course_id", "period_id", "grade_max", "pass_mark")]
    course.loc[course.index[0], nothing] = np.nan
    course.loc[course.index[0], "term_week"] = 8.0
    scored = model.predict(course).assign(user_id=course["user_id"].to_numpy())
    first = scored.iloc[0]
    assert np.isnan(first["fail_probability"]) and first["signals_available"] == "not enough data for a prediction"
    assert (scored["data_gaps"].iloc[1:] == "No data yet on absences").all()
    assert not scored["top_factors"].str.contains("bsen").any()
    period = Period("p", date(2026, 9, 7), date(2026, 12, 7), 3)
    report = build_report(
        scored, course_id="c", period=period, as_of=date(2026, 11, 2), model=None, risk_high=0.5, risk_medium=0.25
    )
    assert report.header.not_enough_data == 1 and report.header.week_of_term == 8
    assert report.students["risk_band"].isna().sum() == 1
    for fmt, render in RENDERERS.items():
        text = render(report).decode()
        assert "nan" not in text.lower().replace("financ", ""), fmt
        assert "None" not in text, fmt
    html = " ".join(to_html(report).decode().split())
    assert "No data yet on absences" in html and ">not enough data<" in html
    assert "with not enough data for a prediction" in html
    # A student with no background to show says so, instead of a bare "Background:" label on a phone.
    assert 'class="background"><span class="muted">none stand out</span></td>' in html
    assert 'class="background"></td>' not in html
    rows = json.loads(to_json(report))["rows"]
    unknown = next(r for r in rows if r["fail_probability"] is None)
    assert unknown["risk_band"] is None and unknown["factors"] == []
    assert all(isinstance(f["course_value"], float) for r in rows for f in r["factors"] if f["kind"] == "reason")


@pytest.mark.parametrize("stage", ["no_interim", "interim_1", "interim_2"])
def test_explaining_does_not_change_the_probability(model: FailRiskModel, uci: pd.DataFrame, stage: str) -> None:
    # The tree attribution also yields the trees' log-odds; it must agree with scikit-learn's prediction.
    stage_model = model.stages[stage]
    inputs = model_frame(uci, stage_model.columns)
    explained, _ = stage_model.assess(inputs, explain=True)
    np.testing.assert_allclose(explained, stage_model.fail_probability(inputs), rtol=0, atol=1e-9)


EXPLAINED = ["past_failures", "study_time", "absences", "age", "going_out", "health", "school", "internet_access"]


@pytest.mark.parametrize("candidate", ["logistic", "sparse_logistic"])
def test_a_linear_effect_is_what_making_that_input_typical_does(uci: pd.DataFrame, candidate: str) -> None:
    inputs = model_frame(uci, EXPLAINED)
    fail = (uci["final_grade"] < uci["pass_mark"]).to_numpy(dtype=int)
    classifier = build_classifier(candidate, EXPLAINED).fit(inputs, fail)
    typical = typical_values(inputs, EXPLAINED)
    probability, effects = assess(classifier, inputs, typical, explain=True)
    assert effects is not None
    np.testing.assert_allclose(probability, classifier.predict_proba(inputs)[:, 1], atol=1e-9)
    for k, name in enumerate(EXPLAINED):
        as_typical = classifier.predict_proba(inputs.assign(**{name: typical[name]}))[:, 1]
        np.testing.assert_allclose(effects[:, k], probability - as_typical, atol=1e-9)
    if candidate == "sparse_logistic":  # inputs the selection left out move nothing
        assert (np.abs(effects).max(axis=0) == 0).sum() >= len(EXPLAINED) - SPARSE_K


def test_a_blend_is_explained_with_its_own_probability(uci: pd.DataFrame) -> None:
    inputs = model_frame(uci, EXPLAINED)
    fail = (uci["final_grade"] < uci["pass_mark"]).to_numpy(dtype=int)
    classifier = build_classifier("logistic+gradient_boosting", EXPLAINED).fit(inputs, fail)
    probability, effects = assess(classifier, inputs, typical_values(inputs, EXPLAINED), explain=True)
    np.testing.assert_allclose(probability, classifier.predict_proba(inputs)[:, 1], atol=1e-9)
    assert effects is not None and effects.shape == (len(uci), len(EXPLAINED) + 1)  # + the pass fraction
    assert np.abs(effects[:, : len(EXPLAINED)]).max() > 0.05


def test_candidates_and_naive_share_the_folds(fitted: FittedStages) -> None:
    by_stage = {ev.stage.name: ev for ev in fitted.evaluations}
    start, late = by_stage["no_interim"], by_stage["interim_2"]
    # The naive predictor is the majority class at the start, "pass if the last interim grade passes" later.
    assert start.naive["roc_auc"] == 0.5
    assert start.naive["accuracy"] == pytest.approx(1 - start.failing / start.rows, abs=0.01)
    assert late.naive["accuracy"] == pytest.approx(0.905, abs=0.01)
    assert {"logistic", "gradient_boosting", "logistic+gradient_boosting"} <= set(late.candidates)
    for ev in fitted.evaluations:
        assert set(ev.metrics) == {"accuracy", "balanced_accuracy", "roc_auc", "brier", "grade_rmse"}
        best = min(m["brier"] for m in ev.candidates.values())
        assert ev.metrics["brier"] <= best * (1 + BRIER_TOLERANCE)  # the simplest of the (near-)best
        assert ev.metrics["roc_auc"] > ev.naive["roc_auc"] and ev.metrics["brier"] < ev.naive["brier"]


def test_a_model_without_interim_grades_scores_everyone_at_the_start(uci: pd.DataFrame) -> None:
    frame = uci.drop(columns=["interim_grade_1", "interim_grade_2"])
    fitted = fit_and_evaluate(frame, n_repeats=1, stages=STAGES[:1])
    assert fitted.model is not None and fitted.model.stage_names == ["no_interim"]
    out = fitted.model.predict(uci.head(5))  # interim grades present, but this model cannot use them
    assert set(out["stage"]) == {"no_interim"}
