#!/usr/bin/env python3
"""Cross-checks an SBML file exported by ketasim against libSBML and libRoadRunner.

Usage:
    scripts/crosscheck.py MODEL.xml KETASIM.csv [--venv DIR] [--rtol 1e-4] [--atol 1e-9]

MODEL.xml is what `ketasim export` (SBMLExporter.export) wrote; KETASIM.csv is ketasim's wide CSV of the
same model and scenario (first column the time, then one column per output, as `ketasim run` writes it).

1. Creates a virtual environment (default: .venv-crosscheck at the repository root) and installs
   libroadrunner and python-libsbml from the package index, unless they are already there.
2. Validates MODEL.xml with libSBML: errors fail the check, warnings are listed.
3. Simulates it with libRoadRunner (CVODE, relative and absolute tolerance 1e-8 and 1e-12) at the CSV's
   time points and compares every CSV column that names a model quantity: each value must lie within
   rtol * |ketasim| + atol of RoadRunner's (defaults 1e-4 and 1e-9).

Exit status: 0 when everything agrees, 1 on a validation error or a mismatch, 2 on bad usage,
3 when the package index cannot be reached or the packages cannot be installed.
"""
import argparse
import csv
import math
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ["libroadrunner", "python-libsbml"]


def in_venv(venv):
    return os.path.realpath(sys.prefix) == os.path.realpath(venv)


def ensure_environment(venv):
    """Re-runs this script inside the venv, creating and filling it first when needed."""
    if in_venv(venv):
        return
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"crosscheck: creating virtual environment {venv}", file=sys.stderr)
        if subprocess.call([sys.executable, "-m", "venv", venv]) != 0:
            print("crosscheck: could not create the virtual environment (python3 -m venv failed)", file=sys.stderr)
            sys.exit(3)
    probe = subprocess.call([python, "-c", "import roadrunner, libsbml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe != 0:
        print(f"crosscheck: installing {' '.join(PACKAGES)} into {venv}", file=sys.stderr)
        result = subprocess.run([python, "-m", "pip", "install", "--quiet", *PACKAGES], capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            unreachable = any(w in (result.stderr + result.stdout).lower()
                              for w in ("connection", "network", "temporary failure", "could not find a version", "name resolution"))
            reason = "the package index cannot be reached" if unreachable else "pip failed"
            print(f"crosscheck: {reason}; cannot install {' '.join(PACKAGES)}:", file=sys.stderr)
            for line in tail:
                print("  " + line, file=sys.stderr)
            sys.exit(3)
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise SystemExit(f"crosscheck: {path} has no data rows")
    header = [h.strip() for h in rows[0]]

    def number(text):
        t = text.strip().lower()
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(t, None) if t in ("nan", "inf", "-inf") else float(text)

    data = [[number(x) for x in row] for row in rows[1:] if row]
    return header, data


def validate(path):
    import libsbml
    doc = libsbml.readSBMLFromFile(path)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, True)
    doc.checkConsistency()
    errors, warnings = [], []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        text = f"line {e.getLine()}: [{e.getErrorId()}] {e.getShortMessage()}: {' '.join(e.getMessage().split())}"
        (errors if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR else warnings).append(text)
    for w in warnings:
        print("libSBML warning: " + w)
    for e in errors:
        print("libSBML error: " + e)
    print(f"libSBML: {len(errors)} errors, {len(warnings)} warnings")
    return not errors


def simulate(path, times, columns):
    import roadrunner
    rr = roadrunner.RoadRunner(path)
    rr.integrator.relative_tolerance = 1e-8
    rr.integrator.absolute_tolerance = 1e-12
    rr.integrator.setValue("variable_step_size", False)
    known = set(rr.model.getFloatingSpeciesIds()) | set(rr.model.getBoundarySpeciesIds()) | \
        set(rr.model.getGlobalParameterIds()) | set(rr.model.getCompartmentIds())
    selected = [c for c in columns if c in known]
    skipped = [c for c in columns if c not in known]
    rr.timeCourseSelections = ["time"] + selected
    result = rr.simulate(times=list(times))
    return selected, skipped, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sbml")
    parser.add_argument("csv")
    parser.add_argument("--venv", default=os.path.join(REPO, ".venv-crosscheck"))
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-9)
    args = parser.parse_args()
    for p in (args.sbml, args.csv):
        if not os.path.exists(p):
            print(f"crosscheck: {p}: no such file", file=sys.stderr)
            sys.exit(2)
    ensure_environment(os.path.abspath(args.venv))

    ok = validate(args.sbml)
    header, data = read_csv(args.csv)
    times = [row[0] for row in data]
    selected, skipped, result = simulate(args.sbml, times, header[1:])
    if skipped:
        print("not in the SBML model, not compared: " + ", ".join(skipped))
    mismatches = 0
    for j, name in enumerate(selected, start=1):
        k = header.index(name)
        worst, worst_at = 0.0, None
        for i, row in enumerate(data):
            expected = row[k]
            got = result[i, j]
            if math.isnan(expected) and math.isnan(got):
                continue
            allowed = args.rtol * abs(expected) + args.atol
            ratio = abs(got - expected) / allowed if allowed > 0 else math.inf
            if ratio > worst:
                worst, worst_at = ratio, (times[i], got, expected)
        status = "ok" if worst <= 1 else "MISMATCH"
        if worst > 1:
            mismatches += 1
        detail = f" (worst at t = {worst_at[0]}: roadrunner {worst_at[1]!r}, ketasim {worst_at[2]!r})" if worst_at else ""
        print(f"{status:8} {name}: largest deviation {worst:.3g} of the allowed {args.rtol:g}*|v| + {args.atol:g}{detail}")
    print(f"{len(selected) - mismatches} of {len(selected)} outputs agree over {len(times)} time points")
    sys.exit(0 if ok and mismatches == 0 else 1)


if __name__ == "__main__":
    main()
