#!/usr/bin/env python3
"""Reference simulator for ketasim model files in Python (scipy), for the speed race in race.py.

Written as an independent second implementation of docs/MODEL_FORMAT.md while the model was calibrated;
here it is what a modeller writing Python would run: the same equations under scipy's solve_ivp.

Implements the semantics of docs/MODEL_FORMAT.md:
  expressions (^, hill, if, piecewise, min/max, log = ln, && || !), assignments in dependency order,
  organisms -> scenario parameter overrides, scenarios with `extends`, input schedules (piecewise constant),
  doses (bolus: F*amount added to the target; `over`: zero-order infusion F*amount/D), mass -> umol with
  molar_mass, per-kg x body_weight, regimens `every I xN`, steady state from steady_state_inputs,
  segment-by-segment integration between discontinuities (BDF/LSODA).

Usage:
  python3 refsim.py MODEL.yaml SCENARIO [--out file.csv] [--every 10min] [--stress X] [--method BDF]
  python3 refsim.py MODEL.yaml --list
As a library:  m = Model(path); res = m.run('stress_ketamine', output_every=1/60)
               res['t'], res['glutamate_synaptic'] ...
"""
import argparse
import ast
import math
import re
import sys

import numpy as np
import yaml
from scipy.integrate import solve_ivp
from scipy.optimize import fsolve

# ----------------------------------------------------------------------------- durations

_DUR = {'s': 1 / 3600, 'min': 1 / 60, 'h': 1.0, 'd': 24.0, 'w': 168.0}


def duration(x):
    """Number (hours) or string with unit -> hours."""
    if isinstance(x, (int, float)):
        return float(x)
    s = str(x).strip()
    m = re.fullmatch(r'([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(s|min|h|d|w)?', s)
    if not m:
        raise ValueError(f'bad duration {x!r}')
    return float(m.group(1)) * _DUR[m.group(2) or 'h']


# ----------------------------------------------------------------------------- expressions

def _hill(x, K, n):
    xn = x ** n if x > 0 else 0.0
    return xn / (K ** n + xn)


def _if(c, a, b):
    return a if c else b


def _piecewise(*args):
    for i in range(0, len(args) - 1, 2):
        if args[i + 1]:
            return args[i]
    return args[-1]


FUNCS = {'exp': math.exp, 'log': math.log, 'log10': math.log10, 'sqrt': math.sqrt, 'abs': abs,
         'min': min, 'max': max, 'pow': pow, 'hill': _hill, '_if': _if, 'piecewise': _piecewise}


def translate(expr):
    """ketasim expression -> python expression string."""
    s = str(expr)
    s = s.replace('^', '**').replace('&&', ' and ').replace('||', ' or ')
    s = re.sub(r'!(?!=)', ' not ', s)
    s = re.sub(r'\bif\s*\(', '_if(', s)
    ast.parse(s, mode='eval')  # syntax check
    return s


def names_in(pyexpr):
    return {n.id for n in ast.walk(ast.parse(pyexpr, mode='eval')) if isinstance(n, ast.Name)}


# ----------------------------------------------------------------------------- doses

_MASS = {'mg': 1.0, 'ug': 1e-3, 'g': 1e3}
DOSE_RE = re.compile(
    r'^\s*(?P<drug>\w+)\s+(?P<amt>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s+(?P<unit>\S+)\s+(?P<route>\w+)'
    r'(?:\s+over\s+(?P<over>\S+))?\s+at\s+(?P<at>\S+)(?:\s+every\s+(?P<every>\S+)\s+x(?P<n>\d+))?\s*$')


def parse_dose(s, drugs, params):
    m = DOSE_RE.match(s)
    if not m:
        raise ValueError(f'bad dose {s!r}')
    drug = drugs[m['drug']]
    route = drug['routes'][m['route']]
    amt = float(m['amt'])
    unit = m['unit']
    over = duration(m['over']) if m['over'] else None
    rate = unit.endswith('/h')
    if rate:
        if over is None:
            raise ValueError(f'rate dose needs over: {s!r}')
        unit = unit[:-2]
        amt = amt * over
    perkg = unit.endswith('/kg')
    if perkg:
        unit = unit[:-3]
    if unit in _MASS:
        umol = amt * _MASS[unit] / drug['molar_mass'] * 1000.0
    elif unit == 'umol':
        umol = amt
    elif unit == 'nmol':
        umol = amt * 1e-3
    else:
        raise ValueError(f'bad unit in {s!r}')
    if perkg:
        umol *= params['body_weight']
    F = route.get('bioavailability', 1.0)
    F = params[F] if isinstance(F, str) else float(F)
    t0 = duration(m['at'])
    n = int(m['n']) if m['n'] else 1
    every = duration(m['every']) if m['every'] else 0.0
    return [dict(target=route['target'], amount=F * umol, t=t0 + i * every, over=over) for i in range(n)]


# ----------------------------------------------------------------------------- model

class Model:
    def __init__(self, path):
        with open(path) as f:
            self.spec = yaml.safe_load(f)
        sp = self.spec
        self.states = list(sp['states'].keys())
        self.inputs = list((sp.get('inputs') or {}).keys())
        self.params0 = {k: float(v['value']) for k, v in sp['parameters'].items()}
        asg = {}
        for k, v in (sp.get('assignments') or {}).items():
            asg[k] = translate(v['expression'] if isinstance(v, dict) else v)
        odes = {k: translate(v) for k, v in sp['odes'].items()}
        missing = set(self.states) - set(odes)
        if missing:
            raise ValueError(f'states without ode: {missing}')
        # topological order of assignments
        order, done = [], set()
        visiting = set()

        def visit(n):
            if n in done:
                return
            if n in visiting:
                raise ValueError(f'assignment cycle at {n}')
            visiting.add(n)
            for d in names_in(asg[n]):
                if d in asg:
                    visit(d)
            visiting.discard(n)
            done.add(n)
            order.append(n)
        for n in asg:
            visit(n)
        self.asg_order = order
        self.asg = asg
        known = set(self.params0) | set(self.inputs) | set(self.states) | set(asg) | {'t'} | set(FUNCS)
        for k, e in list(asg.items()) + list(odes.items()):
            unk = names_in(e) - known
            if unk:
                raise ValueError(f'{k}: unknown names {unk}')
        self.outputs = list(sp.get('outputs') or [])
        # generated code: rhs(t, y, P, U) -> list of derivatives ; obs(t, y, P, U) -> dict
        lines = ['def _rhs(t, y, P, U):']
        for i, s in enumerate(self.states):
            lines.append(f'    {s} = y[{i}]')
        for p in self.params0:
            lines.append(f'    {p} = P[{p!r}]')
        for u in self.inputs:
            lines.append(f'    {u} = U[{u!r}]')
        for a in order:
            lines.append(f'    {a} = {asg[a]}')
        body_ode = ', '.join(f'({odes[s]})' for s in self.states)
        lines.append(f'    return [{body_ode}]')
        lines.append('def _obs(t, y, P, U):')
        lines += lines[1:1 + len(self.states) + len(self.params0) + len(self.inputs) + len(order)]
        lines.append('    return {' + ', '.join(f'{n!r}: {n}' for n in self.states + order) + '}')
        self.code = '\n'.join(lines)
        ns = dict(FUNCS)
        exec(compile(self.code, '<model>', 'exec'), ns)
        self._rhs, self._obs = ns['_rhs'], ns['_obs']
        self.y0 = np.array([float(sp['states'][s]['initial']) for s in self.states])

    # -- scenario resolution
    def scenario(self, name):
        scs = self.spec.get('scenarios') or {}
        sc = dict(scs[name])
        if 'extends' in sc:
            par = self.scenario(sc['extends'])
            out = dict(par)
            for k, v in sc.items():
                if k == 'extends':
                    continue
                if k in ('inputs', 'parameters', 'steady_state_inputs'):
                    merged = dict(par.get(k) or {})
                    merged.update(v or {})
                    out[k] = merged
                elif k == 'doses':
                    out[k] = list(par.get('doses') or []) + list(v or [])
                else:
                    out[k] = v
            return out
        return sc

    def params_for(self, organism=None, overrides=None):
        P = dict(self.params0)
        if organism:
            for k, v in ((self.spec['organisms'][organism].get('parameters')) or {}).items():
                P[k] = float(v)
        for k, v in (overrides or {}).items():
            P[k] = float(v)
        return P

    def input_defaults(self):
        return {u: float(v.get('default', 0)) for u, v in (self.spec.get('inputs') or {}).items()}

    def rhs(self, t, y, P, U, infusions=()):
        d = self._rhs(t, y, P, U)
        for idx, rate in infusions:
            d[idx] += rate
        return d

    def steady_state(self, P, U, y0=None, t_long=4.0e4):
        y = self.y0.copy() if y0 is None else np.array(y0, float)
        d = np.array(self._rhs(0.0, y, P, U))
        if np.max(np.abs(d)) < 1e-12:
            return y
        sol = solve_ivp(lambda t, x: self._rhs(t, x, P, U), (0, t_long), y, method='BDF',
                        rtol=1e-9, atol=1e-12)
        y = sol.y[:, -1]
        yr, info, ier, msg = fsolve(lambda x: self._rhs(0.0, x, P, U), y, full_output=True, xtol=1e-13)
        if ier == 1 and np.all(np.isfinite(yr)) and np.max(np.abs(yr - y)) < 1e-3:
            y = yr
        return y

    def run(self, name, output_every=None, stress=None, method='BDF', rtol=1e-6, atol=1e-9,
            extra_doses=(), t_end=None):
        sc = self.scenario(name)
        P = self.params_for(sc.get('organism'), sc.get('parameters'))
        drugs = self.spec.get('drugs') or {}
        defaults = self.input_defaults()
        if stress is not None:  # CLI --stress X: intensity of the stress input
            sc = dict(sc)
            sched = [dict(s, value=float(stress)) for s in (sc.get('inputs') or {}).get('stress', [])]
            if not sched:
                defaults['stress'] = float(stress)
            sc['inputs'] = dict(sc.get('inputs') or {}, stress=sched)
        T = duration(t_end if t_end is not None else sc['t_end'])
        dt_out = duration(output_every if output_every is not None else sc.get('output_every', 1.0))
        # start
        if sc.get('start', 'steady_state') == 'initial':
            y = self.y0.copy()
        else:
            U0 = dict(defaults)
            U0.update({k: float(v) for k, v in (sc.get('steady_state_inputs') or {}).items()})
            y = self.steady_state(P, U0)
        # schedules
        sched = {u: [(float(s['value']), duration(s['from']), duration(s['to'])) for s in v]
                 for u, v in (sc.get('inputs') or {}).items()}

        def inputs_at(tm):  # value on [tm, next edge)
            U = dict(defaults)
            for u, segs in sched.items():
                for val, a, b in segs:
                    if a <= tm < b:
                        U[u] = val
            return U
        doses = []
        for ds in list(sc.get('doses') or []) + list(extra_doses):
            doses += parse_dose(ds, drugs, P)
        idx = {s: i for i, s in enumerate(self.states)}
        edges = {0.0, T}
        for segs in sched.values():
            for _, a, b in segs:
                edges |= {a, b}
        for d in doses:
            edges.add(d['t'])
            if d['over']:
                edges.add(d['t'] + d['over'])
        edges = sorted(e for e in edges if 0.0 <= e <= T)
        n_out = int(math.floor(T / dt_out + 1e-9)) + 1
        t_out = np.linspace(0.0, (n_out - 1) * dt_out, n_out)
        Y = np.full((len(self.states), n_out), np.nan)
        t_cur = 0.0
        for k, e in enumerate(edges):
            # apply boluses at e
            if k < len(edges) - 1:
                for d in doses:
                    if d['over'] is None and abs(d['t'] - e) < 1e-12:
                        y[idx[d['target']]] += d['amount']
            if k == len(edges) - 1:
                break
            t_next = edges[k + 1]
            U = inputs_at(e)
            infs = [(idx[d['target']], d['amount'] / d['over']) for d in doses
                    if d['over'] and d['t'] <= e + 1e-12 and e < d['t'] + d['over'] - 1e-12]
            mask = (t_out >= e - 1e-12) & (t_out <= t_next + 1e-12)
            tev = t_out[mask]
            if tev.size and abs(tev[0] - e) < 1e-12:
                Y[:, np.where(mask)[0][0]] = y
            sol = solve_ivp(lambda tt, x: self.rhs(tt, x, P, U, infs), (e, t_next), y, method=method,
                            rtol=rtol, atol=atol, t_eval=tev if tev.size else None, dense_output=False)
            if not sol.success:
                raise RuntimeError(f'{name}: integration failed at {e}: {sol.message}')
            if tev.size:
                cols = np.where(mask)[0]
                # at a shared edge the later segment overwrites only the points strictly inside it
                for j, c in enumerate(cols):
                    if np.isnan(Y[0, c]) or tev[j] > e + 1e-12:
                        Y[:, c] = sol.y[:, j]
            y = sol.y[:, -1].copy()
            t_cur = t_next
        # observables
        res = {'t': t_out}
        obs_names = self.states + self.asg_order
        rows = []
        for j, tt in enumerate(t_out):
            rows.append(self._obs(tt, Y[:, j], P, inputs_at(tt)))
        for n in obs_names:
            res[n] = np.array([r[n] for r in rows])
        res['_params'] = P
        return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('scenario', nargs='?')
    ap.add_argument('--out')
    ap.add_argument('--every')
    ap.add_argument('--stress', type=float)
    ap.add_argument('--method', default='BDF')
    ap.add_argument('--list', action='store_true')
    a = ap.parse_args()
    m = Model(a.model)
    if a.list or not a.scenario:
        for k, v in (m.spec.get('scenarios') or {}).items():
            print(f"{k}: {v.get('description', '')}")
        return
    res = m.run(a.scenario, output_every=a.every, stress=a.stress, method=a.method)
    cols = ['t'] + m.outputs
    f = open(a.out, 'w') if a.out else sys.stdout
    f.write(','.join(cols) + '\n')
    for j in range(len(res['t'])):
        f.write(','.join(f'{res[c][j]:.8g}' for c in cols) + '\n')


if __name__ == '__main__':
    main()
