"""Calibration: does P(real) mean what it says? Reliability, ECE, Brier, log loss, and
temperature scaling fitted on one split and judged on another."""
import pandas as pd
import streamlit as st

from core import calibration, figures_analysis, ui

ctx = ui.sidebar("Calibration")
st.title("Calibration")
preds, sweep = ui.guard_evaluation(ctx)
frame = preds.frame

bins = st.slider("Bins", 5, 20, 10)
with st.expander("How to read calibration"):
    st.caption("A calibrated detector's P(real) = 0.8 bin holds 80% real images. ECE (expected calibration error) "
               "is the count-weighted gap between the two; Brier score and log loss judge every score (lower is "
               "better). Each bin's bar is the 95% Wilson interval of its share of real images: a bin of a few images "
               "can miss the diagonal by chance alone. Temperature scaling divides the model's logit by one number T "
               "fitted on other images: it changes how confident the scores are, never their order (ROC-AUC stays).")

st.subheader("Temperature scaling")
HALVES = "halves of this test set (fit on one half, judge on the other)"
fit_on = st.selectbox("Fit the temperature on", [HALVES] + ui.other_test_sets(ctx.data_dir, ui.known_test_sets()),
                      help="Fitting and judging on the same images flatters the result: name another split.")
if fit_on == HALVES:
    fit_mask, judge_mask = calibration.stratified_halves(frame["label"], seed=0)
    fit, judge, judged_on = frame[fit_mask], frame[judge_mask], "the other half of this test set"
else:
    other, problem = ui.context_for(ctx, data_dir=fit_on)
    if other is None:
        st.warning(problem)
        st.stop()
    scored, _ = ui.scored_predictions(other)
    if scored is None:  # a pass over another set takes minutes: only when asked for
        ask = st.empty()  # gone once pressed, as the fit appears
        if not ask.button(f"Score `{fit_on}` with this model ({len(other.test_set)} images; cached on disk after)",
                          icon=":material/play_arrow:"):
            st.info(f"`{fit_on}` is not scored by this model yet: press the button to score it and fit on it.",
                    icon=":material/hourglass_empty:")
            st.stop()
        ask.empty()
        scored = ui.predictions(other)
    fit, judge, judged_on = scored.frame, frame, ctx.data_dir
try:
    temp = calibration.fit_temperature(fit["label"], fit["p_real"], fitted_on=str(fit_on))
except ValueError as exc:
    st.warning(f"Cannot fit a temperature on {fit_on}: {exc}")
    st.stop()

before_p, after_p = judge["p_real"].to_numpy(), temp.apply(judge["p_real"].to_numpy())
before, after = calibration.scores(judge["label"], before_p, bins), calibration.scores(judge["label"], after_p, bins)
st.markdown(f"Fitted temperature **T = {temp.temperature:.3f}** on {len(fit)} images "
            f"({'softens an overconfident model' if temp.temperature > 1 else 'sharpens an underconfident model'}); "
            f"judged on {judged_on} ({len(judge)} images). The ranking, and so ROC-AUC, does not change.")
st.dataframe(pd.DataFrame({"": ["ECE", "Brier score", "log loss"],
                           "before": [before.ece, before.brier, before.log_loss],
                           "after": [after.ece, after.brier, after.log_loss]}).style.format(precision=4),
             hide_index=True)
ui.chart(st, figures_analysis.reliability_figure({
    "before": calibration.reliability(judge["label"], before_p, bins),
    "after temperature scaling": calibration.reliability(judge["label"], after_p, bins)}), width="stretch")
