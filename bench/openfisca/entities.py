"""The one entity of both benchmark models: a person (one row of the cohort)."""

from openfisca_core.entities import build_entity

Person = build_entity(key="person", plural="persons", label="A person or package: one cohort row", is_person=True)
