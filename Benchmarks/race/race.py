#!/usr/bin/env python3
"""The race: ketasim against libRoadRunner and scipy on the same model, trajectories checked to agree.

    Benchmarks/race/race.py [--ketasim PATH] [--scenario human_ketamine_infusion] [--runs 30] [--json FILE]

1. Exports the scenario to SBML with `ketasim export` and times `ketasim run --repeat N` (model loaded and
   compiled once, equilibrium cached after the first run, one thread): median time per trajectory.
2. Loads the SBML in libRoadRunner (CVODE) once and times `simulate` over the same output grid after
   `resetAll()`: median time per trajectory.
3. Runs the same equations from the YAML file in Python with scipy's solve_ivp (LSODA), segment by segment
   between the same discontinuities, with the starting equilibrium computed once (as ketasim caches it).
4. Requires every output of libRoadRunner and scipy to agree with ketasim within 1e-3 relative plus 1e-8
   absolute at every output time, then prints the ratios. The absolute floor is ten times the solvers'
   own absolute tolerance: below it (drug levels decaying through 1e-6 uM) no solver is accurate to 1e-3.

All three use relative tolerance 1e-6 and absolute tolerance 1e-9 and a 10-minute output grid over the
scenario's whole span. libRoadRunner is installed into .venv-race (with the system's numpy and scipy)
from the package index; when that fails the script says so and exits 3.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(REPO, ".venv-race")
RTOL, ATOL = 1e-6, 1e-9


def ensure_venv(modules=("roadrunner", "scipy", "yaml"), packages=("libroadrunner",), who="race"):
    """The python of .venv-race (the system's numpy and scipy visible), with `packages` installed when one
    of `modules` does not import; exits 3 when the package index cannot supply them."""
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", VENV], check=True)
    probe = subprocess.run([python, "-c", "import " + ", ".join(modules)], capture_output=True)
    if probe.returncode != 0:
        pip = subprocess.run([python, "-m", "pip", "install", "-q", *packages], capture_output=True, text=True)
        if pip.returncode != 0:
            sys.stderr.write(f"{who}: cannot install {' and '.join(packages)} from the package index:\n" + pip.stderr[-2000:])
            sys.exit(3)
    return python


def ketasim_timing(ketasim, scenario, runs, workdir):
    sbml = os.path.join(workdir, scenario + ".xml")
    out = os.path.join(workdir, scenario + ".csv")
    subprocess.run([ketasim, "export", "--sbml", sbml, "--scenario", scenario, "--force"], check=True, capture_output=True)
    r = subprocess.run([ketasim, "run", "--scenario", scenario, "--every", "10min", "--rtol", str(RTOL), "--atol", str(ATOL),
                        "--repeat", str(runs), "-o", out, "--force"], check=True, capture_output=True, text=True)
    line = [l for l in r.stderr.splitlines() if l.startswith("timing:")][0]
    median_ms = float(line.split("median ")[1].split(" ms")[0])
    with open(out) as f:
        rows = list(csv.reader(f))
    return sbml, median_ms, line, rows[0][1:], [[float(x) for x in row] for row in rows[1:]]


def roadrunner_timing(sbml, names, times, runs):
    import numpy as np
    import roadrunner
    r = roadrunner.RoadRunner(sbml)
    integrator = r.getIntegrator()
    integrator.setValue("relative_tolerance", RTOL)
    integrator.setValue("absolute_tolerance", ATOL)
    r.timeCourseSelections = ["time"] + names
    grid = np.array(times)
    result = r.simulate(times=grid)  # warm-up; also the trajectory compared
    seconds = []
    for _ in range(runs):
        r.resetAll()
        start = time.perf_counter()
        result = r.simulate(times=grid)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1e3, np.array(result)[:, 1:]


def scipy_timing(model_path, scenario, names, runs):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy as np
    from reference_model import Model
    m = Model(model_path)
    cache = {}
    original = m.steady_state

    def cached(P, U, y0=None, t_long=4.0e4):
        key = (tuple(sorted(P.items())), tuple(sorted(U.items())))
        if key not in cache:
            cache[key] = original(P, U, y0, t_long)
        return cache[key].copy()
    m.steady_state = cached
    res = m.run(scenario, output_every=1 / 6, method="LSODA", rtol=RTOL, atol=ATOL)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        res = m.run(scenario, output_every=1 / 6, method="LSODA", rtol=RTOL, atol=ATOL)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1e3, np.array([res[n] for n in names]).T


def agreement(reference, other):
    worst, where = 0.0, None
    for k, (a, b) in enumerate(zip(reference, other)):
        for j, (x, y) in enumerate(zip(a, b)):
            allowed = 1e-3 * abs(x) + 10 * ATOL
            if abs(x - y) / allowed > worst:
                worst, where = abs(x - y) / allowed, (k, j, x, y)
    return worst, where


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ketasim", default=os.path.join(REPO, ".build/release/ketasim"))
    ap.add_argument("--scenario", default="human_ketamine_infusion")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--scipy-runs", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    if os.environ.get("KETASIM_RACE_IN_VENV") != "1":
        python = ensure_venv()
        env = dict(os.environ, KETASIM_RACE_IN_VENV="1")
        sys.exit(subprocess.run([python, os.path.abspath(__file__)] + sys.argv[1:], env=env).returncode)
    if not os.access(a.ketasim, os.X_OK):
        sys.exit(f"race: no ketasim binary at {a.ketasim}; build it with `swift build -c release --product ketasim`")
    with tempfile.TemporaryDirectory() as work:
        sbml, k_ms, k_line, names, k_rows = ketasim_timing(a.ketasim, a.scenario, a.runs, work)
        times = [row[0] for row in k_rows]
        values = [row[1:] for row in k_rows]
        rr_ms, rr_values = roadrunner_timing(sbml, names, times, a.runs)
        sp_ms, sp_values = scipy_timing(os.path.join(REPO, "models/ketamine_stress.yaml"), a.scenario, names, a.scipy_runs)
    rr_worst, rr_where = agreement(values, rr_values.tolist())
    sp_worst, sp_where = agreement(values, sp_values.tolist())
    print(f"scenario {a.scenario}: {len(times)} output times x {len(names)} outputs, rtol {RTOL}, atol {ATOL}, one thread")
    print(f"  ketasim (msbdf)      {k_ms:9.2f} ms per trajectory   [{k_line}]")
    print(f"  libRoadRunner (CVODE) {rr_ms:8.2f} ms per trajectory   agreement: worst {rr_worst:.3f} of the 1e-3 band")
    print(f"  scipy (LSODA)        {sp_ms:9.1f} ms per trajectory   agreement: worst {sp_worst:.3f} of the 1e-3 band")
    print(f"  ketasim / libRoadRunner = {k_ms / rr_ms:.2f}   scipy / ketasim = {sp_ms / k_ms:.1f}")
    ok = rr_worst <= 1 and sp_worst <= 1
    if not ok:
        print(f"  DISAGREEMENT: roadrunner {rr_where}, scipy {sp_where} (row, column, ketasim, other)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"scenario": a.scenario, "ketasim_ms": k_ms, "roadrunner_ms": rr_ms, "scipy_ms": sp_ms,
                       "ratio_ketasim_roadrunner": k_ms / rr_ms, "ratio_scipy_ketasim": sp_ms / k_ms,
                       "agreement_roadrunner": rr_worst, "agreement_scipy": sp_worst}, f, indent=2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
