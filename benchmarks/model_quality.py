"""Model quality on the UCI Student Performance data against Cortez & Silva (2008), their protocol.

Binary pass/fail (G3 >= 10), repeated stratified 10-fold cross-validation, per course and input setup:
A = with G1 and G2 (our stage ``interim_2``), B = G1 only (``interim_1``), C = no interim grade
(``no_interim``). Each cell is our production training procedure (all candidates cross-validated, chosen by
Brier, refitted) run on that course alone; the naive predictor is measured on the same folds in the same run.

    python benchmarks/model_quality.py --data /path/to/uci [--repeats N] [--inputs deployment|paper]
        [--splits K] [--sample N]

``--splits`` and ``--sample`` (N students per course) shrink the run for a quick check; the paper's protocol is
10 splits on every student.

``--inputs deployment`` (the default) uses the built-in catalog as a deployment does: the sensitive attributes
(sex, age, family and parents' background, alcohol, health) are audit columns, never inputs. ``--inputs paper``
makes them model inputs again, as the paper used them.

Targets: our accuracy at least the paper's best in every cell, our Brier below the naive predictor's in
every cell, and training both courses (with cross-validation) in under 60 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from passcompass_assets.core.catalog import load_catalog
from passcompass_assets.core.datasets.uci import load_uci_dir
from passcompass_assets.core.ml.fitting import fit_and_evaluate

TARGET_MISSED = 3  # as benchmarks._common.TARGET_MISSED (this file also runs as a script, outside the package)

SETUPS = {"A": "interim_2", "B": "interim_1", "C": "no_interim"}
# Cortez & Silva (2008), Table 3 (best accuracy over NV, NN, SVM, DT, RF) and Table 5 (best RMSE).
PAPER_ACCURACY = {
    ("uci-math", "A"): (91.9, "NV"),
    ("uci-math", "B"): (83.8, "NV"),
    ("uci-math", "C"): (70.6, "SVM"),
    ("uci-portuguese", "A"): (93.0, "DT"),
    ("uci-portuguese", "B"): (90.1, "RF"),
    ("uci-portuguese", "C"): (85.0, "RF"),
}
PAPER_RMSE = {
    ("uci-math", "A"): 1.75,
    ("uci-math", "B"): 2.46,
    ("uci-math", "C"): 3.90,
    ("uci-portuguese", "A"): 1.32,
    ("uci-portuguese", "B"): 1.78,
    ("uci-portuguese", "C"): 2.67,
}
TIME_BUDGET_S = 60.0
HEADER = (
    f"{'course':<15}{'setup':<6}{'acc %':>7}{'ROC AUC':>9}{'Brier':>8}{'NV acc %':>10}{'NV Brier':>10}"
    f"{'paper best':>14}{'RMSE':>7}{'paper':>7}  {'meets':<6}chosen model"
)


def run(data: Path, repeats: int, jobs: int = 1, splits: int = 10, sample: int | None = None) -> bool:
    frame = load_uci_dir(data)
    if sample:
        frame = frame.groupby("course_id", group_keys=False).sample(n=sample, random_state=0)
    rows = f"{sample} students per course" if sample else "every student"
    print(f"Cortez & Silva protocol: stratified {splits}-fold x {repeats} repeats, pass = G3 >= 10, {rows}\n")
    print(HEADER)
    print("-" * len(HEADER))
    all_met = True
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    for course in ("uci-math", "uci-portuguese"):
        fitted = fit_and_evaluate(frame[frame["course_id"] == course], n_repeats=repeats, n_splits=splits, n_jobs=jobs)
        by_stage = {ev.stage.name: ev for ev in fitted.evaluations}
        for setup, stage in SETUPS.items():
            ev = by_stage[stage]
            ours, naive = ev.metrics, ev.naive
            paper, paper_model = PAPER_ACCURACY[(course, setup)]
            meets = 100 * ours["accuracy"] >= paper and ours["brier"] < naive["brier"]
            all_met &= meets
            print(
                f"{course:<15}{setup:<6}{100 * ours['accuracy']:>7.1f}{ours['roc_auc']:>9.3f}{ours['brier']:>8.4f}"
                f"{100 * naive['accuracy']:>10.1f}{naive['brier']:>10.4f}{f'{paper:.1f} ({paper_model})':>14}"
                f"{ours['grade_rmse']:>7.2f}{PAPER_RMSE[(course, setup)]:>7.2f}  {'yes' if meets else 'NO':<6}"
                f"{ev.classifier}"
            )
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    verdict = "met" if wall < TIME_BUDGET_S else "MISSED"
    print(
        f"\ntraining both courses with cross-validation (3 stages each, final fits included): {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU in this process, {jobs} job(s); budget {TIME_BUDGET_S:.0f} s: {verdict}"
    )
    print(f"all cells meet the paper's best accuracy and beat the naive Brier: {'yes' if all_met else 'NO'}")
    return all_met and wall < TIME_BUDGET_S


def paper_catalog(folder: Path) -> Path:
    """A deployment catalog giving every built-in audit column back to the model, as the paper's inputs."""
    path = folder / "paper_inputs.yaml"
    columns = [{"name": c.name, "use": "feature"} for c in load_catalog().audit]
    path.write_text(yaml.safe_dump({"columns": columns}))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with student-mat.csv and student-por.csv")
    parser.add_argument("--repeats", type=int, default=2, help="repeats of 10-fold CV (the paper used 20)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for the folds (pays on an idle machine)")
    parser.add_argument("--inputs", choices=["deployment", "paper"], default="deployment")
    parser.add_argument("--splits", type=int, default=10, help="folds of the cross-validation (the paper's: 10)")
    parser.add_argument("--sample", type=int, help="students per course (default: all)")
    args = parser.parse_args(argv)
    if not (args.data / "student-mat.csv").exists():
        raise SystemExit(f"UCI Student Performance files not found in {args.data} (see ../shared/data/README.md)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.inputs == "paper":
            os.environ["PASSCOMPASS_CATALOG"] = str(paper_catalog(Path(tmp)))
        inputs = [c.name for c in load_catalog().inputs]
        print(f"inputs ({args.inputs}, {len(inputs)}): {', '.join(inputs)}")
        met = run(args.data, args.repeats, args.jobs, args.splits, args.sample)
    return 0 if met else TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
