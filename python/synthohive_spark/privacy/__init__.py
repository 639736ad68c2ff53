"""PII detection rules, validators, replacement strategies and faker glue (no Spark here).

- :mod:`.validators`: value rules (Luhn, IBAN mod-97, SSN areas, IPv4/IPv6, email, dates of
  birth), phone numbers (phonenumbers) and person names;
- :mod:`.detect`: column-name hints in several languages and the finding for a column, and the
  quasi-identifiers of k-anonymity (:func:`quasi_identifiers`);
- :mod:`.strategies`: fake / hash / mask / redact / drop;
- :mod:`.generate`: :func:`generate_pii` and :func:`infer_format` for synthetic tables;
- :mod:`.contextual`: :func:`generate_contextual`, all PII columns of a row as one persona in the
  locale and formats of the row's country (:func:`attach_country_context` at fit);
- :mod:`.text`: fresh text of a free-text column's common words and length profile (its values are
  never learned);
- :mod:`.dp`: differential privacy's budget, accountant (opacus, the ``privacy`` extra), DP-SGD
  step and statements (imported on use, not here: opacus is optional).
"""
from __future__ import annotations

from synthohive_spark.privacy.detect import (PII_KINDS, QUASI_IDENTIFIER_KINDS, ColumnEvidence,
                                             Finding, decide, is_quasi_identifier, name_hint,
                                             normalize_name, quasi_identifiers)
from synthohive_spark.privacy.contextual import (attach_country_context, country_code,
                                                 country_locale, generate_contextual)
from synthohive_spark.privacy.generate import GENERATED_KINDS, generate_pii, infer_format
from synthohive_spark.privacy.strategies import (STRATEGIES, Strategy, check_locale, fake_series,
                                                 fake_value, hash_format, hash_hex, mask_value,
                                                 parse_strategy)
from synthohive_spark.privacy.text import generate_text, text_format
from synthohive_spark.privacy.validators import classify

__all__ = ["PII_KINDS", "QUASI_IDENTIFIER_KINDS", "is_quasi_identifier", "quasi_identifiers",
           "ColumnEvidence", "Finding", "decide", "name_hint", "normalize_name",
           "GENERATED_KINDS", "generate_pii", "infer_format", "generate_contextual",
           "attach_country_context", "country_code", "country_locale", "STRATEGIES", "Strategy",
           "check_locale", "fake_series", "fake_value", "hash_format", "hash_hex", "mask_value",
           "parse_strategy", "classify", "generate_text", "text_format"]
