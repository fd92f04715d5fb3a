#!/usr/bin/env python3
"""The fit race: `ketasim fit` against scipy's least_squares driving libRoadRunner on one PEtab problem.

    Benchmarks/race/petab_race.py [--ketasim PATH] [--problem Boehm_JProteomeRes2014] [--starts 20] [--seed 1]
                                  [--json FILE] [--skip-ketasim]

1. ketasim: `ketasim fit PROBLEM --starts N --seed S --jobs 1` once with `--gradient sensitivities` and once with
   `--gradient differences`; per start its nllh and seconds from starts.csv.
2. The anchor, what a Python user would write: the problem's tables read with the `petab` package, the SBML
   model in libRoadRunner (CVODE, relative 1e-10, absolute 1e-14 as ketasim's PEtab settings), residuals
   (m - s) / sigma and sqrt(2 log sigma + C) per measurement (so that half their squared norm is the nllh up
   to a constant, as ketasim's), scipy's `least_squares` (trust region reflective, bounds on the parameter
   scale, forward differences with relative step 1e-6, at most 200 iterations x 10 evaluations) from N Latin
   hypercube starts on the parameter scale (scipy's qmc, the seed given).
3. Prints per tool the best nllh, how many starts end within 0.1 of the best known value (the benchmark's
   reference.tsv), and the median and mean seconds per start.

Scope: PEtab v1 problems without preequilibration, with normal noise, observables on the linear scale and
conditions that set model parameters by number (Boehm_JProteomeRes2014; the script refuses others). One
thread per tool. libRoadRunner, petab and scipy go into .venv-race from the package index (race.py's
ensure_venv); when that fails the script says so and exits 3.
"""
import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from race import ensure_venv

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARK = os.path.join(os.path.dirname(REPO), "shared", "petab-benchmark")
RTOL, ATOL = 1e-10, 1e-14
SIGMA_CONSTANT = 2 * math.log(1e30)


def best_known(problem):
    with open(os.path.join(BENCHMARK, "reference.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["problem"] == problem:
                return float(row["nllh_best_known"])
    sys.exit(f"petab_race: {problem} is not in reference.tsv")


def run_ketasim(ketasim, yaml, starts, seed, gradient, workdir):
    out = os.path.join(workdir, gradient)
    cmd = [ketasim, "fit", yaml, "--starts", str(starts), "--seed", str(seed), "--jobs", "1", "--gradient", gradient,
           "-o", out, "--force"]
    began = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-3000:])
        sys.exit(f"petab_race: ketasim fit --gradient {gradient} failed (exit {r.returncode})")
    with open(os.path.join(out, "starts.csv")) as f:
        rows = list(csv.DictReader(f))
    return {"nllh": [float(x["nllh"]) for x in rows], "seconds": [float(x["seconds"]) for x in rows], "wall": wall,
            "iterations": [int(x["iterations"]) for x in rows], "evaluations": [int(x["evaluations"]) for x in rows]}


def anchor(yaml, starts, seed):
    """Runs inside .venv-race: least_squares + libRoadRunner. Returns per-start nllh and seconds."""
    import numpy as np
    import roadrunner
    from scipy.optimize import least_squares
    from scipy.stats import qmc
    try:
        import petab.v1 as petab
    except ImportError:
        import petab

    problem = petab.Problem.from_yaml(yaml)
    m = problem.measurement_df
    if "preequilibrationConditionId" in m and any(str(v) not in ("", "nan") for v in m["preequilibrationConditionId"]):
        sys.exit("petab_race: preequilibration is out of this script's scope")
    obs = problem.observable_df
    for column, allowed in (("observableTransformation", "lin"), ("noiseDistribution", "normal")):
        if column in obs and set(obs[column].fillna(allowed)) != {allowed}:
            sys.exit(f"petab_race: {column} other than {allowed} is out of this script's scope")

    sbml = problem.sbml_model if hasattr(problem, "sbml_model") else problem.model.sbml_model
    from libsbml import writeSBMLToString
    rr = roadrunner.RoadRunner(writeSBMLToString(sbml.getSBMLDocument()))
    rr.getIntegrator().setValue("relative_tolerance", RTOL)
    rr.getIntegrator().setValue("absolute_tolerance", ATOL)
    species = list(rr.model.getFloatingSpeciesIds()) + list(rr.model.getBoundarySpeciesIds())
    model_parameters = set(rr.model.getGlobalParameterIds()) | set(rr.model.getCompartmentIds())

    par = problem.parameter_df
    estimated = [p for p in par.index if int(par.loc[p, "estimate"]) == 1]
    scales = {p: par.loc[p, "parameterScale"] for p in par.index}

    def linear(p, x):
        s = scales[p]
        return 10 ** x if s == "log10" else math.exp(x) if s == "log" else x

    def scaled(p, v):
        s = scales[p]
        return math.log10(v) if s == "log10" else math.log(v) if s == "log" else v

    lower = np.array([scaled(p, par.loc[p, "lowerBound"]) for p in estimated])
    upper = np.array([scaled(p, par.loc[p, "upperBound"]) for p in estimated])
    nominal = {p: float(par.loc[p, "nominalValue"]) for p in par.index}
    formulas = {o: (str(obs.loc[o, "observableFormula"]), str(obs.loc[o, "noiseFormula"])) for o in obs.index}
    conditions = problem.condition_df
    groups = {c: m[m["simulationConditionId"] == c] for c in m["simulationConditionId"].unique()}
    times = {c: sorted(set(g["time"].astype(float))) for c, g in groups.items()}
    # Every cell the residuals read, resolved once: numbers stay numbers, ids are looked up per point.
    rows = []
    for c, g in groups.items():
        for _, row in g.iterrows():
            noise = str(row.get("noiseParameters", "")) if "noiseParameters" in row else ""
            cells = [x.strip() for x in noise.split(";")] if noise and noise != "nan" else []
            rows.append((c, row["observableId"], float(row["time"]), float(row["measurement"]), cells))

    def simulate(values):
        out = {}
        for c in groups:
            rr.resetAll()
            for p, v in values.items():
                if p in model_parameters:
                    rr[p] = v
            if c in conditions.index:
                for column in conditions.columns:
                    if column == "conditionName":
                        continue
                    cell = conditions.loc[c, column]
                    if isinstance(cell, str):
                        sys.exit("petab_race: a condition cell naming a parameter is out of this script's scope")
                    if not math.isnan(cell):
                        rr[column] = float(cell)
            ts = times[c]
            grid = ([0.0] if ts[0] > 0 else []) + ts
            rr.timeCourseSelections = ["time"] + [f"[{s}]" for s in species]
            result = rr.simulate(times=grid)
            env = {name: values.get(name, rr[name]) for name in model_parameters}
            env.update({p: v for p, v in values.items()})
            table = {}
            for k, t in enumerate(result[:, 0]):
                e = dict(env)
                e.update({s: result[k, 1 + i] for i, s in enumerate(species)})
                table[float(t)] = e
            out[c] = table
        return out

    def residuals(x):
        values = dict(nominal)
        for p, xi in zip(estimated, x):
            values[p] = linear(p, xi)
        try:
            states = simulate(values)
        except RuntimeError:
            return np.full(2 * len(rows), 1e6)
        r = np.empty(2 * len(rows))
        for k, (c, o, t, y, cells) in enumerate(rows):
            env = dict(states[c][t])
            h, noise = formulas[o]
            s = eval(h.replace("^", "**"), {"__builtins__": {}, "exp": math.exp, "log": math.log}, env)
            for n, cell in enumerate(cells):
                try:
                    env[f"noiseParameter{n + 1}_{o}"] = float(cell)
                except ValueError:
                    env[f"noiseParameter{n + 1}_{o}"] = values[cell]
            env[o] = s
            sigma = eval(noise.replace("^", "**"), {"__builtins__": {}, "exp": math.exp, "log": math.log}, env)
            r[k] = (y - s) / sigma
            r[len(rows) + k] = math.sqrt(max(2 * math.log(sigma) + SIGMA_CONSTANT, 0))
        return r

    def nllh(x):
        r = residuals(x)
        n = len(rows)
        return 0.5 * float(np.sum(r[:n] ** 2)) + sum(0.5 * r[n + k] ** 2 - SIGMA_CONSTANT / 2 for k in range(n)) \
            + 0.5 * n * math.log(2 * math.pi)

    x_nominal = np.array([scaled(p, nominal[p]) for p in estimated])
    sampler = qmc.LatinHypercube(d=len(estimated), seed=seed)
    points = qmc.scale(sampler.random(starts), lower, upper)
    results = {"nllh": [], "seconds": [], "evaluations": [], "nominal_nllh": nllh(x_nominal)}
    for x0 in points:
        began = time.perf_counter()
        fit = least_squares(residuals, x0, bounds=(lower, upper), method="trf", diff_step=1e-6,
                            max_nfev=200 * 10, xtol=1e-8, gtol=1e-8)
        results["seconds"].append(time.perf_counter() - began)
        results["nllh"].append(nllh(fit.x))
        results["evaluations"].append(int(fit.nfev))
    return results


def summary(name, r, best):
    within = sum(1 for v in r["nllh"] if math.isfinite(v) and v - best <= 0.1)
    finite = [v for v in r["nllh"] if math.isfinite(v)]
    return (f"| {name} | {min(finite) if finite else float('nan'):.4f} | {within} of {len(r['nllh'])} | "
            f"{statistics.median(r['seconds']):.2f} | {statistics.mean(r['seconds']):.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ketasim", default=os.path.join(REPO, ".build", "release", "ketasim"))
    ap.add_argument("--problem", default="Boehm_JProteomeRes2014")
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--skip-ketasim", action="store_true")
    ap.add_argument("--anchor-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    yaml = os.path.join(BENCHMARK, args.problem, args.problem + ".yaml")

    if args.anchor_only:
        print(json.dumps(anchor(yaml, args.starts, args.seed)))
        return
    python = ensure_venv(modules=("roadrunner", "scipy", "petab", "libsbml"), packages=("libroadrunner", "petab"),
                         who="petab_race")
    best = best_known(args.problem)
    report = {"problem": args.problem, "starts": args.starts, "seed": args.seed, "best_known": best}
    if not args.skip_ketasim:
        with tempfile.TemporaryDirectory() as workdir:
            for gradient in ("sensitivities", "differences"):
                report["ketasim_" + gradient] = run_ketasim(args.ketasim, yaml, args.starts, args.seed, gradient, workdir)
    r = subprocess.run([python, os.path.abspath(__file__), "--anchor-only", "--problem", args.problem,
                        "--starts", str(args.starts), "--seed", str(args.seed)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-3000:])
        sys.exit("petab_race: the scipy + libRoadRunner fit failed")
    report["scipy_roadrunner"] = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"{args.problem}: {args.starts} starts, seed {args.seed}, best known nllh {best}")
    print(f"scipy + libRoadRunner at the nominal point: nllh {report['scipy_roadrunner']['nominal_nllh']:.4f}")
    print("| fit | best nllh | starts within 0.1 of the best known | median s per start | mean s per start |")
    print("| --- | --- | --- | --- | --- |")
    for key, name in (("ketasim_sensitivities", "ketasim, sensitivities"), ("ketasim_differences", "ketasim, differences"),
                      ("scipy_roadrunner", "scipy least_squares + libRoadRunner")):
        if key in report:
            print(summary(name, report[key], best))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
