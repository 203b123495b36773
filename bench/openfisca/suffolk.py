"""The Suffolk personal-budget model (examples/suffolk-personal-budget/allocation.cov) in
OpenFisca's idiomatic vectorised style: one Variable per quantity, formulas over numpy
arrays, Table 2 and the prices as parameters (parameters/suffolk/*.yaml).

Money is a float, as OpenFisca stores it, and the moderated budget is rounded with
numpy.round, which rounds half to even on the binary value: this is what the benchmark
compares, at the penny, with Covenant's exact decimal half-up rounding.
"""

import json

import numpy as np
from openfisca_core.indexed_enums import Enum
from openfisca_core.periods import DateUnit
from openfisca_core.variables import Variable

from entities import Person

PERIOD = "2015"
# The 18 MHCT items, in the order of `enum MhctItem` (stdlib/nhs/mhct.cov).
ITEMS = ["H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9", "H10", "H11", "H12", "H13", "A", "B", "C", "D", "E"]
ITEM_INDEX = {item: i for i, item in enumerate(ITEMS)}
# An item that is not in the person's list of ratings (Covenant simply has no list element).
NOT_RATED = -1000
DECISIONS = ["points", "indicative_budget", "moderated_budget", "eligible", "budget_from_formula"]


class Placement(Enum):
    Community = "Living in the community"
    HighCostNursing = "High cost nursing placement"
    Residential = "Residential placement"
    HighCostSupportedHousing = "High cost supported housing placement"


def _rating_variable(item):
    return type(
        f"rating_{item}",
        (Variable,),
        {
            "value_type": int,
            "default_value": NOT_RATED,
            "entity": Person,
            "definition_period": DateUnit.YEAR,
            "label": f"MHCT item {item} rating (0-4)",
        },
    )


def _item_points_variable(item):
    # item_points (allocation.cov): the Table 2 cell for the band the rating points to
    # (4 Critical, 3 Substantial, 2 Moderate); a blank cell or a rating of 0-1 scores 0.
    def formula(person, period, parameters):
        rating = person(f"rating_{item}", period)
        weight = parameters(period).suffolk.facs_weight

        def cell(band):
            return weight[band][item] if item in weight[band] else 0

        return np.select([rating == 4, rating == 3, rating == 2], [cell("critical"), cell("substantial"), cell("moderate")], 0)

    return type(
        f"item_points_{item}",
        (Variable,),
        {
            "value_type": int,
            "entity": Person,
            "definition_period": DateUnit.YEAR,
            "label": f"Points scored by item {item}",
            "formula": formula,
        },
    )


class placement(Variable):
    value_type = Enum
    possible_values = Placement
    default_value = Placement.Community
    entity = Person
    definition_period = DateUnit.YEAR
    label = "Where the person lives"


class highly_complex_needs(Variable):
    value_type = bool
    entity = Person
    definition_period = DateUnit.YEAR
    label = "The person has highly complex needs"


class moderation(Variable):
    value_type = float
    default_value = 0.0  # `person.moderation otherwise 0%`
    entity = Person
    definition_period = DateUnit.YEAR
    label = "The practitioner's moderation, as a fraction (0.15 for 15%)"


class points(Variable):
    value_type = int
    entity = Person
    definition_period = DateUnit.YEAR
    label = "Total Table 2 points"

    def formula(person, period):
        return sum(person(f"item_points_{item}", period) for item in ITEMS)


def _count_scoring(person, period, rating_value):
    return sum(
        (person(f"rating_{item}", period) == rating_value) & (person(f"item_points_{item}", period) > 0) for item in ITEMS
    )


class indicated_band(Variable):
    value_type = int
    entity = Person
    definition_period = DateUnit.YEAR
    label = "Indicated FACS band rank: 0 none, 1 Moderate, 2 Substantial, 3 Critical"

    def formula(person, period):
        # band_from_counts (allocation.cov), hit first.
        critical = _count_scoring(person, period, 4)
        substantial = _count_scoring(person, period, 3)
        moderate = _count_scoring(person, period, 2)
        return np.select([critical >= 1, substantial >= 1, moderate >= 1], [3, 2, 1], 0)


class eligible(Variable):
    value_type = bool
    entity = Person
    definition_period = DateUnit.YEAR
    label = "The indicated band meets the council's threshold"

    def formula(person, period, parameters):
        band = person("indicated_band", period)
        return (band > 0) & (band >= parameters(period).suffolk.facs_threshold)


class excluded(Variable):
    value_type = bool
    entity = Person
    definition_period = DateUnit.YEAR
    label = "Excluded placement with highly complex needs (L814)"

    def formula(person, period):
        p = person("placement", period)
        placed = (p == Placement.HighCostNursing) | (p == Placement.Residential) | (p == Placement.HighCostSupportedHousing)
        return placed & person("highly_complex_needs", period)


class ratings_valid(Variable):
    value_type = bool
    entity = Person
    definition_period = DateUnit.YEAR
    label = "Every rating is on the 0-4 scale"

    def formula(person, period):
        valid = True
        for item in ITEMS:
            r = person(f"rating_{item}", period)
            valid = valid & ((r == NOT_RATED) | ((r >= 0) & (r <= 4)))
        return valid


class indicative_budget(Variable):
    value_type = float
    entity = Person
    definition_period = DateUnit.YEAR
    label = "Standard allocation: points times the price per point"

    def formula(person, period, parameters):
        return person("points", period) * parameters(period).suffolk.price_per_point


class moderation_allowed(Variable):
    value_type = bool
    entity = Person
    definition_period = DateUnit.YEAR
    label = "The moderation is within 25% up or down"

    def formula(person, period, parameters):
        limit = parameters(period).suffolk.moderation_limit
        m = person("moderation", period)
        return (m >= -limit) & (m <= limit)


class moderated_budget(Variable):
    value_type = float
    entity = Person
    definition_period = DateUnit.YEAR
    label = "Indicative budget moved by the moderation, rounded to pence (NaN when not allowed)"

    def formula(person, period):
        budget = person("indicative_budget", period)
        moved = np.round(budget + person("moderation", period) * budget, 2)
        return np.where(person("moderation_allowed", period), moved, np.nan)


class budget_from_formula(Variable):
    value_type = bool
    entity = Person
    definition_period = DateUnit.YEAR
    label = "The moderated budget is the person's personal budget"

    def formula(person, period):
        applies = person("ratings_valid", period) & person("eligible", period) & person("moderation_allowed", period)
        return applies & np.logical_not(person("excluded", period))


VARIABLES = (
    [_rating_variable(item) for item in ITEMS]
    + [_item_points_variable(item) for item in ITEMS]
    + [
        placement,
        highly_complex_needs,
        moderation,
        points,
        indicated_band,
        eligible,
        excluded,
        ratings_valid,
        indicative_budget,
        moderation_allowed,
        moderated_budget,
        budget_from_formula,
    ]
)


def read(path):
    """The cohort CSV as input arrays: {variable: numpy array}, and the row count."""
    import csv

    ratings, placements, complex_needs, moderations = [], [], [], []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        ir = header.index("person.ratings")
        ip = header.index("person.placement")
        ih = header.index("person.highly_complex_needs")
        im = header.index("person.moderation")
        for row in reader:
            values = [NOT_RATED] * len(ITEMS)
            for r in json.loads(row[ir]):
                values[ITEM_INDEX[r["item"]]] = r["rating"]
            ratings.append(values)
            placements.append(row[ip].strip())
            complex_needs.append(row[ih].strip() in ("true", "TRUE", "True"))
            m = row[im].strip().rstrip("%").strip()
            moderations.append(float(m) / 100 if m else 0.0)
    grid = np.array(ratings, dtype=np.int64).reshape(-1, len(ITEMS))
    inputs = {f"rating_{item}": grid[:, i] for i, item in enumerate(ITEMS)}
    inputs["placement"] = Placement.encode(np.array(placements))
    inputs["highly_complex_needs"] = np.array(complex_needs, dtype=bool)
    inputs["moderation"] = np.array(moderations, dtype=np.float64)
    return inputs, len(placements)


def write(path, results, errors_path=None):
    """The results in the `covenant batch` layout: row, then one column per decision."""
    n = len(results["points"])
    pts = results["points"].tolist()
    ib = results["indicative_budget"].tolist()
    mb = results["moderated_budget"].tolist()
    el = results["eligible"].tolist()
    bf = results["budget_from_formula"].tolist()
    with open(path, "w", newline="") as f:
        f.write("row," + ",".join(DECISIONS) + "\n")
        f.writelines(
            f"{i + 1},{pts[i]},{ib[i]:.2f},{'' if mb[i] != mb[i] else format(mb[i], '.2f')},"
            f"{'true' if el[i] else 'false'},{'true' if bf[i] else 'false'}\n"
            for i in range(n)
        )
    if errors_path:
        open(errors_path, "w").close()
