"""Runs a benchmark model in OpenFisca over a cohort CSV and writes the `covenant batch` layout.

    python run.py suffolk|housing --input IN.csv --output OUT.csv [--errors ERR.txt]
                  [--compute-only [--repeat N]]

End to end (the default): read the CSV, build the simulation, calculate, write. With
--compute-only the CSV is read and every input array built first; only the calculations are
timed (best of --repeat fresh simulations, 3 by default), then the results are written. The
timing line on standard error is `compute-only: ROWS rows in SECONDS s (RATE rows/s)`.
"""

import argparse
import os
import sys
import time

from openfisca_core.simulations import SimulationBuilder
from openfisca_core.taxbenefitsystems import TaxBenefitSystem

import housing
import suffolk
from entities import Person

HERE = os.path.dirname(os.path.abspath(__file__))


class BenchmarkSystem(TaxBenefitSystem):
    def __init__(self, model):
        super().__init__([Person])
        for variable in model.VARIABLES:
            self.add_variable(variable)
        self.load_parameters(os.path.join(HERE, "parameters"))


def simulate(system, model, inputs, n):
    simulation = SimulationBuilder().build_default_simulation(system, n)
    for name, values in inputs.items():
        simulation.set_input(name, model.PERIOD, values)
    return simulation


def calculate(simulation, model):
    names = getattr(model, "DECISIONS_COMPUTED", model.DECISIONS)
    return {name: simulation.calculate(name, model.PERIOD) for name in names}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=["suffolk", "housing"])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--errors")
    parser.add_argument("--compute-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = suffolk if args.model == "suffolk" else housing

    started = time.perf_counter()
    system = BenchmarkSystem(model)
    inputs, n = model.read(args.input)
    if args.compute_only:
        prepared = time.perf_counter() - started
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            simulation = simulate(system, model, inputs, n)
            t = time.perf_counter()
            results = calculate(simulation, model)
            best = min(best, time.perf_counter() - t)
        print(
            f"prepare: {n} rows in {prepared:.3f} s; compute-only: {n} rows in {best:.4f} s "
            f"({n / max(best, 1e-9):.0f} rows/s, best of {args.repeat})",
            file=sys.stderr,
        )
    else:
        results = calculate(simulate(system, model, inputs, n), model)
    if model is housing:
        model.write(args.output, results, args.errors, inputs)
    else:
        model.write(args.output, results, args.errors)
    if not args.compute_only:
        seconds = time.perf_counter() - started
        print(f"end-to-end: {n} rows in {seconds:.3f} s ({n / max(seconds, 1e-9):.0f} rows/s)", file=sys.stderr)


if __name__ == "__main__":
    main()
