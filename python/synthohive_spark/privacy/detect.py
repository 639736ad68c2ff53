"""PII detection: column-name hints in several languages, and the decision that turns the value
counts of a sample into a :class:`Finding` (kind, confidence, hit rate).

Spark-free: the Spark stage (``synthohive_spark.ml.pii``) counts the value rules over a distributed
sample and hands the counts to :func:`decide`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional

__all__ = ["PII_KINDS", "PII_SDTYPE_ALIASES", "VALUE_KINDS", "NAME_KINDS", "name_hint", "normalize_name", "word_hints",
           "WEAK_HINT_NAMES",
           "ColumnEvidence", "Finding", "decide", "NAME_HINT_CONFIDENCE",
           "QUASI_IDENTIFIER_KINDS", "is_quasi_identifier", "quasi_identifiers"]

#: Every kind the detector can report (the PII sdtypes of synthohive_spark.metadata).
PII_KINDS: tuple[str, ...] = ("email", "phone", "name", "first_name", "last_name", "address",
                              "city", "zip", "ssn", "credit_card", "ip", "iban", "date_of_birth",
                              "username")

#: Other names of personal-data sdtypes that metadata written for other tools uses (SDV's
#: ``phone_number``, ``street_address``...): personal data wherever a metadata dict is read.
PII_SDTYPE_ALIASES: tuple[str, ...] = ("phone_number", "street_address", "credit_card_number",
                                       "ipv4_address", "ipv6_address", "url", "postcode",
                                       "zipcode", "person", "pii")

#: Kinds with a value validator, in tie-break order (most specific first).
VALUE_KINDS: tuple[str, ...] = ("email", "credit_card", "iban", "ssn", "ip", "phone",
                                "date_of_birth")

#: Kinds recognised from person-name values (checked on the driver).
NAME_KINDS: tuple[str, ...] = ("name", "first_name", "last_name")

#: Confidence of a column-name hint alone.
NAME_HINT_CONFIDENCE = 0.8

# How much a value hit rate alone is worth per kind: a date column is only weak evidence of a
# date of birth, a person-name match a bit weaker than a checksum.
_VALUE_WEIGHT = {"email": 1.0, "credit_card": 1.0, "iban": 1.0, "ssn": 1.0, "ip": 1.0,
                 "phone": 1.0, "date_of_birth": 0.4, "name": 0.9, "first_name": 0.9,
                 "last_name": 0.9}

_FAMILY = {"name": "person", "first_name": "person", "last_name": "person",
           "address": "location", "city": "location", "zip": "location"}

# Normalised column names per kind, several languages. "exact" hints must be the whole name;
# the others may also end a longer name (customer_email, home_phone, billing_address).
_HINTS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e_mail", "email_address", "mail_address", "emailaddress", "correo",
              "correo_electronico", "courriel", "adresse_email", "adresse_mail", "emailadresse",
              "e_mail_adresse", "mailadresse", "posta_elettronica", "indirizzo_email",
              "endereco_email", "epost", "sahkoposti"),
    "phone": ("phone", "phone_number", "phonenumber", "phone_no", "phone_nr", "telephone",
              "telephone_number", "tel", "tel_no", "tel_nr", "telefon", "telefonnummer",
              "telefono", "telefone", "telephone_portable", "mobile_number", "mobile_phone",
              "cellphone", "cell_phone", "handy", "handynummer", "movil", "celular",
              "numero_telephone", "numero_telefono", "fax", "fax_number"),
    "name": ("full_name", "fullname", "person_name", "customer_name", "contact_name",
             "client_name", "employee_name", "patient_name", "holder_name", "cardholder_name",
             "account_holder", "nombre_completo", "nom_complet", "nome_completo",
             "vollstaendiger_name", "vollstandiger_name"),
    "first_name": ("first_name", "firstname", "fname", "given_name", "givenname", "forename",
                   "vorname", "prenom", "primer_nombre", "nome_proprio"),
    "last_name": ("last_name", "lastname", "lname", "surname", "family_name", "familyname",
                  "nachname", "familienname", "apellido", "apellidos", "nom_de_famille",
                  "cognome", "sobrenome", "achternaam"),
    "address": ("address", "street", "street_address", "streetaddress", "address_line",
                "address_line1", "address_line_1", "address1", "addr", "adresse", "strasse",
                "direccion", "indirizzo", "endereco", "calle", "rue", "home_address",
                "postal_address", "mailing_address", "billing_address", "shipping_address"),
    "city": ("city", "town", "ciudad", "ville", "stadt", "wohnort", "citta", "cidade",
             "municipality", "localidad"),
    "zip": ("zip", "zipcode", "zip_code", "postcode", "post_code", "postal_code", "postalcode",
            "plz", "postleitzahl", "codigo_postal", "code_postal", "cod_postal"),
    "ssn": ("ssn", "social_security_number", "social_security", "social_security_no",
            "sozialversicherungsnummer", "national_id", "national_insurance_number", "nino",
            "numero_seguridad_social", "numero_securite_sociale", "codice_fiscale", "bsn",
            "personnummer", "tax_id", "steuer_id", "steueridentifikationsnummer"),
    "credit_card": ("card_number", "cardnumber", "card_no", "card_nr", "credit_card",
                    "creditcard", "credit_card_number", "cc_number", "ccnum", "cc_num",
                    "debit_card", "kreditkarte", "kreditkartennummer", "numero_tarjeta",
                    "tarjeta_credito", "numero_carte", "carte_bancaire", "carta_credito",
                    "cartao_credito"),
    "ip": ("ip", "ip_address", "ipaddress", "ip_addr", "ipv4", "ipv6", "client_ip",
           "remote_ip", "remote_addr", "source_ip", "src_ip", "dst_ip", "ip_adresse",
           "direccion_ip", "adresse_ip", "indirizzo_ip"),
    "iban": ("iban", "iban_number", "bank_account_iban", "account_iban", "iban_code"),
    "username": ("username", "user_name", "login", "login_name", "loginname", "screen_name",
                 "screenname", "nickname", "nick_name", "benutzername", "nombre_de_usuario",
                 "nombre_usuario", "nom_utilisateur", "nome_utente", "nome_de_usuario"),
    "date_of_birth": ("dob", "date_of_birth", "birth_date", "birthdate", "birthday",
                      "birth_day", "born", "born_on", "geburtsdatum", "geburtstag",
                      "fecha_nacimiento", "fecha_de_nacimiento", "date_naissance",
                      "date_de_naissance", "data_nascita", "data_di_nascita",
                      "data_nascimento", "data_de_nascimento", "geboortedatum"),
}

# Whole-name only: too ambiguous as the end of a longer name (product_name, market_cap, ...).
_EXACT_ONLY_KINDS = {"name"}
_EXACT_ONLY = {"tel", "fax", "born", "handy", "rue", "town", "nom", "addr", "street", "ip",
               "mail", "zip", "bsn", "tax_id", "login"}
# Bare words that are a hint only when the whole column name is exactly them.
_EXACT_EXTRA: dict[str, str] = {"name": "name", "nom": "last_name", "nombre": "first_name",
                                "nome": "first_name", "mail": "email", "mobile": "phone",
                                "cell": "phone", "cap": "zip", "cep": "zip", "pan": "credit_card",
                                "sin": "ssn", "nir": "ssn", "dni": "ssn", "nif": "ssn",
                                "cpf": "ssn", "ort": "city"}
#: Whole names whose hint says little alone (something is "born", built or founded): metadata
#: detection does not type a column personal data on such a name without other evidence.
WEAK_HINT_NAMES = frozenset({"born"})
# Extra words around a hint that keep it a hint (customer_email_1, email_addr).
_NOISE_SUFFIX = {"1", "2", "3", "primary", "secondary", "main", "raw", "clear", "plain", "value",
                 "str", "txt", "text"}

_INDEX: dict[tuple[str, ...], str] = {}
for _kind, _names in _HINTS.items():
    for _n in _names:
        _INDEX[tuple(_n.split("_"))] = _kind


#: Words a glued column name is split into (``billingaddress`` -> billing + address): the words
#: of the hints, and the roles that precede them.
_ROLES = ("billing", "bill", "shipping", "ship", "home", "work", "mailing", "delivery",
          "customer", "contact", "company", "employee", "emergency", "business", "personal",
          "invoice", "owner", "client", "patient", "holder", "person", "account", "private",
          "office", "main", "alt", "alternate", "other", "current", "permanent", "residence")
_WORDS = frozenset(w for names in _HINTS.values() for n in names for w in n.split("_")
                   if len(w) >= 3) | frozenset(_ROLES) | {"name", "code", "number"}
#: Glued words that are one thing, never split (a user name is a login, not a person's name).
_WHOLE = frozenset({"username", "filename", "hostname", "nickname", "screenname", "pathname",
                    "codename", "tablename", "typename"})


def _segment(token: str) -> Optional[tuple[str, ...]]:
    """``token`` as two or more known words of three letters or more, or None."""
    if len(token) < 6 or token in _WORDS or token in _WHOLE:
        return None
    for cut in range(3, len(token) - 2):
        head, tail = token[:cut], token[cut:]
        if head not in _WORDS:
            continue
        if tail in _WORDS:
            return (head, tail)
        rest = _segment(tail)
        if rest is not None:
            return (head, *rest)
    return None


def normalize_name(column: str) -> tuple[str, ...]:
    """Lowercase ASCII tokens of a column name: accents removed, camelCase and punctuation
    split (``"eMailAdresse"`` -> ``("e", "mail", "adresse")``), and glued words of the PII
    vocabulary split (``"billingpostalcode"`` -> ``("billing", "postal", "code")``)."""
    text = unicodedata.normalize("NFKD", column)
    text = "".join(c for c in text if not unicodedata.combining(c)).replace("ß", "ss")
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    out: list[str] = []
    for t in re.split(r"[^0-9a-zA-Z]+", text.lower()):
        if t:
            out.extend(_segment(t) or (t,))
    return tuple(out)


def _joined_variants(tokens: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``tokens`` plus the forms where adjacent tokens are glued (("e", "mail") -> ("email",))."""
    out = [tokens]
    for i in range(len(tokens) - 1):
        out.append(tokens[:i] + (tokens[i] + tokens[i + 1],) + tokens[i + 2:])
    return out


def name_hint(column: str) -> Optional[str]:
    """The PII kind a column name suggests, or None."""
    tokens = normalize_name(column)
    while len(tokens) > 1 and tokens[-1] in _NOISE_SUFFIX:
        tokens = tokens[:-1]
    if not tokens:
        return None
    for variant in _joined_variants(tokens):
        joined = "_".join(variant)
        if joined in _EXACT_EXTRA:
            return _EXACT_EXTRA[joined]
        if variant in _INDEX:
            return _INDEX[variant]
    for variant in _joined_variants(tokens):
        for start in range(1, len(variant)):
            tail = variant[start:]
            kind = _INDEX.get(tail)
            if kind is None or kind in _EXACT_ONLY_KINDS or "_".join(tail) in _EXACT_ONLY:
                continue
            return kind
    return None


# Words that say a kind anywhere in a column name (email_verified, phone_2, zip_region), not only
# at its end: a looser reading than name_hint, that metadata detection confirms with the values.
_EMAIL_WORDS = frozenset({"email", "mail"})
_PHONE_WORDS = frozenset({"phone", "mobile", "telephone", "tel", "cell", "fax"})
_CARD_WORDS = frozenset({"ccn", "cc"})
_IP_WORDS = frozenset({"ip", "ipv4", "ipv6"})
_ZIP_WORDS = frozenset({"zip", "zipcode", "postcode"})
_CITY_WORDS = frozenset({"city", "town"})
_ADDRESS_WORDS = frozenset({"address", "street", "addr"})
#: Whose name a two-word ``<role>_name`` column holds (customer_name, author_name).
PERSON_ROLES = frozenset({"customer", "client", "employee", "user", "person", "contact", "owner",
                          "member", "patient", "student", "author", "manager", "agent", "staff"})


def word_hints(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """Every PII kind that a word or phrase anywhere in a column name's tokens (see
    :func:`normalize_name`) suggests, in the order to try them: ``email_verified``,
    ``zip_region``, ``address_line_2``, ``customer_name``, ``vorname``. Person names need the whole
    name (or a ``_first_name``/``_last_name``/``_full_name`` end)."""
    t = set(tokens)
    joined = "_".join(tokens)
    rules = (
        ("email", bool(t & _EMAIL_WORDS) or joined.endswith("e_mail")),
        ("phone", bool(t & _PHONE_WORDS)),
        ("ssn", "ssn" in t or "social_security" in joined),
        ("iban", "iban" in t),
        ("credit_card", "credit_card" in joined or "card_number" in joined or bool(t & _CARD_WORDS)),
        ("ip", bool(t & _IP_WORDS)),
        ("zip", bool(t & _ZIP_WORDS) or "postal_code" in joined),
        ("city", bool(t & _CITY_WORDS)),
        ("address", bool(t & _ADDRESS_WORDS) or joined.startswith("address_line")),
        ("first_name", joined in _HINTS["first_name"] or joined.endswith("_first_name")),
        ("last_name", joined in _HINTS["last_name"] or joined.endswith("_last_name")),
        ("name", joined in _HINTS["name"] or joined.endswith("_full_name")
         or (len(tokens) == 2 and tokens[-1] == "name" and tokens[0] in PERSON_ROLES)),
    )
    return [kind for kind, hit in rules if hit]


@dataclass
class ColumnEvidence:
    """What the scan found in one column's sample.

    ``rule_hits`` counts values passing each value rule (kinds of validators.BIT_KINDS, with
    "ssn_digits" for nine plain digits); ``phone_checked``/``phone_valid`` and
    ``names_checked``/``name_hits`` come from the driver-side checks on a bounded subset.
    """

    column: str
    dtype: str
    non_null: int = 0
    rule_hits: dict[str, int] = field(default_factory=dict)
    phone_checked: int = 0
    phone_valid: int = 0
    names_checked: int = 0
    name_hits: dict[str, int] = field(default_factory=dict)

    def rate(self, kind: str) -> float:
        """Share of non-null sampled values that are of ``kind`` (0 when nothing was sampled)."""
        if kind in NAME_KINDS:
            if self.names_checked == 0:
                return 0.0
            if kind == "name":
                return sum(self.name_hits.values()) / self.names_checked
            return self.name_hits.get(kind, 0) / self.names_checked
        if self.non_null == 0:
            return 0.0
        rate = self.rule_hits.get(kind, 0) / self.non_null
        if kind == "phone":
            rate *= (self.phone_valid / self.phone_checked) if self.phone_checked else 0.0
        return rate

    def loose_rate(self, kind: str) -> float:
        """Like :meth:`rate`, but counting any shape of the kind (nine plain digits for an SSN,
        phone-shaped values whatever phonenumbers says)."""
        if self.non_null == 0:
            return 0.0
        if kind == "ssn":
            return (self.rule_hits.get("ssn", 0) + self.rule_hits.get("ssn_digits", 0)) / \
                self.non_null
        if kind == "phone":
            return self.rule_hits.get("phone", 0) / self.non_null
        return self.rate(kind)


@dataclass
class Finding:
    """The detector's verdict on one column."""

    column: str
    kind: Optional[str]
    confidence: float
    hit_rate: float
    source: str                # "name", "values", "name+values", "metadata", "none"
    is_pii: bool
    strategy: Optional[str] = None
    sampled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Finding":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _best_value_kind(ev: ColumnEvidence, min_hit_rate: float) -> tuple[Optional[str], float]:
    best, best_rate = None, 0.0
    for kind in VALUE_KINDS + NAME_KINDS:
        r = ev.rate(kind)
        if kind == "name" and r > 0:
            # "name" counts every person-name hit; prefer the specific kind when it carries them
            specific = max(ev.rate("first_name"), ev.rate("last_name"))
            if ev.name_hits.get("name", 0) == 0 and specific > 0:
                continue
        if r >= min_hit_rate and r * _VALUE_WEIGHT[kind] > best_rate * _VALUE_WEIGHT.get(
                best or "", 1.0) + 1e-12:
            best, best_rate = kind, r
    return best, best_rate


def decide(ev: ColumnEvidence, min_hit_rate: float = 0.6, min_confidence: float = 0.5,
           use_names: bool = True) -> Finding:
    """Combine the column-name hint and the value evidence of one column into a finding."""
    hint = name_hint(ev.column) if use_names else None
    value_kind, rate = _best_value_kind(ev, min_hit_rate)
    value_conf = rate * _VALUE_WEIGHT.get(value_kind or "", 1.0)
    if hint is not None and value_kind is not None and (
            hint == value_kind or _FAMILY.get(hint, hint) == _FAMILY.get(value_kind, value_kind)):
        conf = 1.0 - (1.0 - value_conf) * (1.0 - NAME_HINT_CONFIDENCE)
        return Finding(ev.column, hint, round(conf, 6), round(ev.rate(hint) if hint in
                       VALUE_KINDS + NAME_KINDS else rate, 6), "name+values",
                       conf >= min_confidence, sampled=ev.non_null)
    if hint is not None:
        conf = NAME_HINT_CONFIDENCE
        has_validator = hint in VALUE_KINDS
        hint_rate = ev.loose_rate(hint) if has_validator else 0.0
        if has_validator and ev.non_null >= 10 and hint_rate < 0.1:
            conf = NAME_HINT_CONFIDENCE * 0.4  # the values contradict the name
        if value_kind is not None and value_conf > conf:
            return Finding(ev.column, value_kind, round(value_conf, 6), round(rate, 6),
                           "values", value_conf >= min_confidence, sampled=ev.non_null)
        return Finding(ev.column, hint, round(conf, 6), round(hint_rate, 6), "name",
                       conf >= min_confidence, sampled=ev.non_null)
    if value_kind is not None:
        return Finding(ev.column, value_kind, round(value_conf, 6), round(rate, 6), "values",
                       value_conf >= min_confidence, sampled=ev.non_null)
    return Finding(ev.column, None, 0.0, 0.0, "none", False, sampled=ev.non_null)


# ------------------------------------------------------------------ quasi-identifiers

#: PII kinds that identify a person only together with others (where one lives, when one was
#: born): the default quasi-identifiers of k-anonymity. The direct identifiers (name, e-mail,
#: phone, SSN, ...) are replaced, never released, so they are not among them.
QUASI_IDENTIFIER_KINDS: tuple[str, ...] = ("city", "zip", "date_of_birth")
_QI_SDTYPES = frozenset(QUASI_IDENTIFIER_KINDS) | {"postcode", "zipcode"}
#: Quasi-identifiers that are no PII kind (a number or a category): told by the column name,
#: as its whole name or its last word (customer_age, patient_sex).
_QI_WHOLE_NAMES = frozenset({"job", "job_title", "jobtitle", "age_group", "age_band",
                             "birth_year", "year_of_birth", "yob", "marital_status"})
_QI_LAST_WORDS = frozenset({"age", "gender", "sex", "occupation", "profession"})
# sdtypes a named quasi-identifier (age, gender, job) can have: not keys, free text or PII
_QI_NAMED_SDTYPES = frozenset({"numerical", "categorical", "boolean", "datetime", "ordinal"})


def is_quasi_identifier(column: str, sdtype: Optional[str], flag: Optional[bool] = None) -> bool:
    """Whether ``column`` of semantic type (or PII kind) ``sdtype`` is a quasi-identifier: the
    explicit ``flag`` when given; otherwise a kind of :data:`QUASI_IDENTIFIER_KINDS`, or a
    number/category/date whose name says age, gender, sex, job or occupation."""
    if flag is not None:
        return bool(flag)
    kind = str(getattr(sdtype, "value", sdtype) or "").lower()
    if kind in _QI_SDTYPES:
        return True
    if kind and kind not in _QI_NAMED_SDTYPES:
        return False
    tokens = normalize_name(column)
    return bool(tokens) and ("_".join(tokens) in _QI_WHOLE_NAMES or tokens[-1] in _QI_LAST_WORDS)


def quasi_identifiers(table_config: Any) -> list[str]:
    """The quasi-identifier columns of a table's metadata (a ``TableConfig``, or a dict of the same
    shape), in column order: ``quasi_identifier: true/false`` where a column says so, else
    :func:`is_quasi_identifier` of its name and sdtype."""
    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)

    columns = get(table_config, "columns") or {}
    return [name for name, col in columns.items()
            if is_quasi_identifier(name, get(col, "sdtype"), get(col, "quasi_identifier"))]
