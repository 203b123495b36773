"""The housing-support tariff (examples/housing-support-tariff/tariff.cov) in OpenFisca's
idiomatic vectorised style: Variables with formulas over numpy arrays, the pathway, price
bands, hours caps and time limits as dated parameters (parameters/housing/*.yaml).

OpenFisca evaluates parameters at one instant per formula call, but the Covenant model picks
each table's version by the package's own start date (`as of package.start`). The formulas
therefore read the parameters at the start of each financial year the tables are dated for
(2015/16 and 2016/17) and choose per row. OpenFisca has no per-row failure either: where
Covenant stops a row with E0512 (no version of a table is in force on the start date, and the
rule needs it), `version_error` says so, and the row is reported as failed, not written.
Money and hours are floats; the weekly cost is rounded with numpy.round (half to even on the
binary value).
"""

import csv
import datetime

import numpy as np
from openfisca_core.indexed_enums import Enum
from openfisca_core.periods import DateUnit
from openfisca_core.variables import Variable

from entities import Person

PERIOD = "2015"
DECISIONS = ["weekly_cost", "within_limits"]
FY2015 = (np.datetime64("2015-04-01"), np.datetime64("2016-03-31"))
FY2016 = (np.datetime64("2016-04-01"), np.datetime64("2017-03-31"))

Cluster = Enum("Cluster", [(f"C{i}", f"Cluster {i}") for i in range(22)])


class Service(Enum):
    Signposting = "Formal housing enquiry, computerised support programmes, signposting"
    PeerSupport = "Peer support, befriending and mentoring"
    FloatingSupport = "Floating support"
    Outreach = "Outreach support"
    AssertiveOutreach = "Assertive outreach"
    AccommodationMedium = "Accommodation based - medium support"
    AccommodationOption = "An accommodation based option"
    GroupHome = "Group home - longer term"
    TherapeuticCommunity = "Therapeutic community"
    RecoveryCentre = "Recovery centre"
    HighSupportAbs = "High support accommodation-based support"
    ComplexNeedsAbs = "Complex needs accommodation-based support"
    CrisisHouse = "Crisis house"
    HousingAdvice = "Housing advice (universal offer)"
    HousingOptions = "Housing options (universal offer)"
    Advocacy = "Advocacy (universal offer)"


SERVICE_INDEX = {name: i for i, name in enumerate(Service.__members__)}


def grid(node, leaf=lambda value: value, empty=np.nan):
    """A (cluster, service) parameter node as a dense lookup array; absent pairs are `empty`."""
    table = np.full((22, len(SERVICE_INDEX)), empty, dtype=float)
    for cluster in node:
        for service in node[cluster]:
            table[int(cluster[1:]), SERVICE_INDEX[service]] = leaf(node[cluster][service])
    return table


def _variable(name, value_type, label, formula=None, **extra):
    attributes = {"value_type": value_type, "entity": Person, "definition_period": DateUnit.YEAR, "label": label}
    attributes.update(extra)
    if formula is not None:
        attributes["formula"] = formula
    return type(name, (Variable,), attributes)


def _keys(person, period):
    return person("cluster", period).view(np.ndarray), person("service", period).view(np.ndarray)


def financial_year_formula(person, period):
    start = person("start", period)
    return np.select(
        [(start >= FY2015[0]) & (start <= FY2015[1]), (start >= FY2016[0]) & (start <= FY2016[1])], [2015, 2016], 0
    )


def on_pathway_formula(person, period, parameters):
    # offered (tariff.cov), hit first: the universal offer, then each cluster's pathway.
    p = parameters(period).housing
    cluster, service = _keys(person, period)
    universal = np.zeros(len(SERVICE_INDEX), dtype=bool)
    for name in p.universal_offer:
        universal[SERVICE_INDEX[name]] = p.universal_offer[name]
    offered = grid(p.offered, leaf=float, empty=0.0) > 0
    return universal[service] | offered[cluster, service]


def _band(person, period, parameters, end):
    # rate_band (tariff.cov): the 2015/16 or the 2016/17 version, by the package's start date.
    cluster, service = _keys(person, period)
    year = person("financial_year", period)
    v2015 = grid(parameters("2015-04-01").housing.rate_band, leaf=lambda b: b[end])[cluster, service]
    v2016 = grid(parameters("2016-04-01").housing.rate_band, leaf=lambda b: b[end])[cluster, service]
    return np.select([year == 2015, year == 2016], [v2015, v2016], np.nan)


def band_low_formula(person, period, parameters):
    return _band(person, period, parameters, "low")


def band_high_formula(person, period, parameters):
    return _band(person, period, parameters, "high")


def has_tariff_formula(person, period):
    return ~np.isnan(person("band_low", period))


def rate_within_band_formula(person, period):
    rate = person("agreed_rate", period)
    low, high = person("band_low", period), person("band_high", period)
    return person("has_tariff", period) & (rate >= low) & (rate <= high)


def hours_within_cap_formula(person, period, parameters):
    # hours_cap (tariff.cov, 2015/16): no cap passes.
    cluster, service = _keys(person, period)
    cap = grid(parameters("2015-04-01").housing.hours_cap)[cluster, service]
    return np.isnan(cap) | (person("hours", period) <= cap)


def time_limit_reached_formula(person, period, parameters):
    # time_limit (tariff.cov, 2015/16) added to the start date with the month-end rule.
    cluster, service = _keys(person, period)
    months = grid(parameters("2015-04-01").housing.time_limit, empty=0)[cluster, service].astype(np.int64)
    start = person("start", period)
    month = start.astype("datetime64[M]")
    day = (start - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    reached = target.astype("datetime64[D]") + np.minimum(day, length - 1)
    return np.where(months > 0, reached, np.datetime64("9999-12-31"))


def within_time_limit_formula(person, period):
    return person("review_date", period) < person("time_limit_reached", period)


def version_error_formula(person, period):
    # The rows Covenant fails with E0512, in the order `within_limits` reads its tables:
    # 1 = no `rate_band` is in force on the start date, 2 = no `hours_cap` is.
    year = person("financial_year", period)
    on_pathway = person("on_pathway", period)
    reaches_cap = on_pathway & (year != 0) & person("rate_within_band", period)
    return np.select([on_pathway & (year == 0), reaches_cap & (year != 2015)], [1, 2], 0)


def within_limits_formula(person, period):
    return (
        person("on_pathway", period)
        & person("has_tariff", period)
        & person("rate_within_band", period)
        & person("hours_within_cap", period)
        & person("within_time_limit", period)
    )


def weekly_cost_formula(person, period):
    return np.round(person("hours", period) * person("agreed_rate", period), 2)


VARIABLES = [
    _variable("cluster", Enum, "Care cluster", possible_values=Cluster, default_value=Cluster.C0),
    _variable("service", Enum, "Service", possible_values=Service, default_value=Service.Signposting),
    _variable("agreed_rate", float, "Agreed hourly rate (GBP per hour)"),
    _variable("hours", float, "Hours of support per week"),
    _variable("start", datetime.date, "Start of the package"),
    _variable("review_date", datetime.date, "Date the package is reviewed"),
    _variable("financial_year", int, "Financial year of the start date whose tables apply", financial_year_formula),
    _variable("on_pathway", bool, "The service is on the cluster's pathway", on_pathway_formula),
    _variable("band_low", float, "Bottom of the hourly band (NaN: no tariff)", band_low_formula),
    _variable("band_high", float, "Top of the hourly band (NaN: no tariff)", band_high_formula),
    _variable("has_tariff", bool, "There is an hourly band", has_tariff_formula),
    _variable("rate_within_band", bool, "The agreed rate is inside the band", rate_within_band_formula),
    _variable("hours_within_cap", bool, "The hours are within the cap", hours_within_cap_formula),
    _variable("time_limit_reached", datetime.date, "Start plus the time limit", time_limit_reached_formula),
    _variable("within_time_limit", bool, "The review date is before the limit", within_time_limit_formula),
    _variable("version_error", int, "Why Covenant would fail the row (0: it would not)", version_error_formula),
    _variable("within_limits", bool, "All limits are met", within_limits_formula),
    _variable("weekly_cost", float, "Weekly cost, rounded to pence", weekly_cost_formula),
]
DECISIONS_COMPUTED = DECISIONS + ["version_error"]


def read(path):
    clusters, services, rates, hours, starts, reviews = [], [], [], [], [], []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        ic, isv, ir, ih, ist, irv = (
            header.index(n)
            for n in ("package.cluster", "package.service", "package.agreed_rate", "package.hours", "package.start", "review_date")
        )
        for row in reader:
            clusters.append(row[ic].strip())
            services.append(row[isv].strip())
            rates.append(float(row[ir]))
            hours.append(float(row[ih]))
            starts.append(row[ist].strip())
            reviews.append(row[irv].strip())
    inputs = {
        "cluster": Cluster.encode(np.array(clusters)),
        "service": Service.encode(np.array(services)),
        "agreed_rate": np.array(rates),
        "hours": np.array(hours),
        "start": np.array(starts, dtype="datetime64[D]"),
        "review_date": np.array(reviews, dtype="datetime64[D]"),
    }
    return inputs, len(clusters)


def write(path, results, errors_path=None, inputs=None):
    cost = results["weekly_cost"].tolist()
    within = results["within_limits"].tolist()
    error = results["version_error"].tolist()
    with open(path, "w", newline="") as f:
        f.write("row," + ",".join(DECISIONS) + "\n")
        f.writelines(
            f"{i + 1},{cost[i]:.2f},{'true' if within[i] else 'false'}\n" for i in range(len(cost)) if not error[i]
        )
    if errors_path:
        starts = inputs["start"].astype(str).tolist() if inputs is not None else None
        with open(errors_path, "w") as f:
            for i, e in enumerate(error):
                if e:
                    table = "rate_band" if e == 1 else "hours_cap"
                    on = f" on {starts[i]}" if starts else ""
                    f.write(f"row {i + 1}: within_limits: no version of `{table}` is valid{on}\n")
