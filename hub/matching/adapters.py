"""Event payloads (alert, parents' DNA, migrant record, rescue notice) to PersonFacts.

Payloads are shaped as in schemas/*.avsc, as decoded by fastavro (dates as `date`, instants as
aware `datetime`) or as read back from JSON Lines (ISO strings): both are accepted. Malformed
fields raise MatchingInputError naming the document, field path and reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hub.errors import MatchingInputError
from hub.matching.facts import (
    BirthInfo,
    DatePrecision,
    DnaOrigin,
    NameKind,
    PersonFacts,
    PersonRef,
    Sex,
    SourceKind,
    StrProfile,
)

_SEX = {
    "M": Sex.MALE,
    "MALE": Sex.MALE,
    "男": Sex.MALE,
    "F": Sex.FEMALE,
    "FEMALE": Sex.FEMALE,
    "女": Sex.FEMALE,
    "U": Sex.UNKNOWN,
    "UNKNOWN": Sex.UNKNOWN,
}


def _text(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MatchingInputError(f"{where} field {key}: expected text, got {type(value).__name__}")
    return value.strip() or None


def _date(doc: Mapping[str, Any], key: str, where: str) -> dt.date | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError as err:
            raise MatchingInputError(
                f"{where} field {key}: {value!r} is not a date (YYYY-MM-DD)"
            ) from err
    raise MatchingInputError(f"{where} field {key}: expected a date, got {type(value).__name__}")


def _int(doc: Mapping[str, Any], key: str, where: str) -> int | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise MatchingInputError(f"{where} field {key}: {value!r} is not a whole number") from err


def _record(
    doc: Mapping[str, Any], key: str, where: str, required: bool = False
) -> Mapping[str, Any] | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise MatchingInputError(f"{where} field {key}: missing")
        return None
    if not isinstance(value, Mapping):
        raise MatchingInputError(
            f"{where} field {key}: expected a record, got {type(value).__name__}"
        )
    return value


def _sex(doc: Mapping[str, Any], where: str) -> Sex:
    raw = _text(doc, "sex", where)
    if raw is None:
        return Sex.UNKNOWN
    sex = _SEX.get(raw.upper())
    if sex is None:
        raise MatchingInputError(f"{where} field sex: {raw!r} is not MALE/FEMALE/UNKNOWN")
    return sex


def _birth(
    person: Mapping[str, Any], where: str, observed: dt.date | None
) -> tuple[BirthInfo | None, dt.date | None]:
    """The birth facts and the day an age range was assessed on (if it says)."""
    birth = _record(person, "birth", where)
    if birth is None:
        return None, observed
    bw = f"{where}.birth"
    raw = (_text(birth, "precision", bw) or "UNKNOWN").upper()
    if raw == "UNKNOWN":
        return None, observed
    try:
        precision = DatePrecision(raw)
    except ValueError as err:
        raise MatchingInputError(f"{bw} field precision: {raw!r} unknown") from err
    low, high = _int(birth, "age_min", bw), _int(birth, "age_max", bw)
    if precision is DatePrecision.AGE_RANGE:
        low = high if low is None else low
        high = low if high is None else high
    assessed = _date(birth, "age_assessed_on", bw) or observed
    try:
        return BirthInfo(precision, _date(birth, "date", bw), low, high), assessed
    except MatchingInputError as err:
        raise MatchingInputError(f"{bw} {err}") from err


def _profile(doc: Mapping[str, Any], key: str, where: str) -> StrProfile | None:
    raw = _record(doc, key, where)
    if raw is None:
        return None
    loci = raw.get("loci")
    if not isinstance(loci, list):
        raise MatchingInputError(f"{where}.{key} field loci: expected a list of loci")
    out: StrProfile = {}
    for i, entry in enumerate(loci):
        alleles = entry.get("alleles") if isinstance(entry, Mapping) else None
        locus = entry.get("locus") if isinstance(entry, Mapping) else None
        if (
            not isinstance(locus, str)
            or not isinstance(alleles, list)
            or len(alleles) not in (1, 2)
        ):
            raise MatchingInputError(f"{where}.{key}.loci[{i}]: needs a locus name and two alleles")
        pair = [str(a).strip() for a in alleles]
        out[locus] = (pair[0], pair[-1])  # one allele written means a homozygote
    return out or None


def _origin(doc: Mapping[str, Any] | None, keys: tuple[str, ...], where: str) -> DnaOrigin | None:
    """Kit, lab and population of the first profile present; a v1 event has no population and
    an empty or "unknown" kit reads as kit unknown."""
    for key in keys:
        raw = _record(doc, key, where) if doc is not None else None
        if raw is None:
            continue
        pw = f"{where}.{key}"
        return DnaOrigin(
            kit=_text(raw, "kit", pw),
            lab=_text(raw, "lab", pw),
            population=_text(raw, "population", pw),
        )
    return None


def _names(doc: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    raw = doc.get(key) or []
    if not isinstance(raw, list | tuple):
        raise MatchingInputError(f"{where} field {key}: expected a list of names")
    return tuple(str(n).strip() for n in raw if str(n).strip())


def _name_kind(person: Mapping[str, Any], where: str) -> NameKind:
    raw = _text(person, "name_kind", where)
    if raw is None:
        return NameKind.FULL  # v1 data: the name was taken as a full name
    try:
        return NameKind(raw.upper())
    except ValueError as err:
        raise MatchingInputError(
            f"{where} field name_kind: {raw!r} is not FULL/GIVEN_ONLY/NICKNAME"
        ) from err


def _documents(person: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """Foreign document numbers as "COUNTRY:NUMBER" (or the number alone), upper case."""
    raw = person.get("foreign_documents") or []
    if not isinstance(raw, list | tuple):
        raise MatchingInputError(f"{where} field foreign_documents: expected a list")
    out = []
    for i, doc in enumerate(raw):
        dw = f"{where}.foreign_documents[{i}]"
        if not isinstance(doc, Mapping):
            raise MatchingInputError(f"{dw}: expected a ForeignDocument record")
        number = _text(doc, "number", dw)
        if number is None:
            raise MatchingInputError(f"{dw} field number: missing")
        # Separators are typed inconsistently; the characters are what identifies a document.
        number = "".join(ch for ch in number.upper() if ch.isalnum())
        country = (_text(doc, "country", dw) or "").upper()
        out.append(f"{country}:{number}" if country else number)
    return tuple(out)


def _address_text(place: Mapping[str, Any] | None, where: str) -> str | None:
    """The text of a place that carries no area code (a foreign address): compared as text."""
    if place is None or _text(place, "area_code", where) is not None:
        return None
    return _text(place, "text", where)


def _area(doc: Mapping[str, Any] | None, where: str) -> str | None:
    if doc is None:
        return None
    raw = _text(doc, "area_code", where)
    if raw is not None and (len(raw) != 6 or not raw.isdigit()):
        raise MatchingInputError(f"{where} field area_code: {raw!r} is not a 6-digit area code")
    return raw


def _marks(person: Mapping[str, Any], where: str) -> str | None:
    marks = _names(person, "marks", where)
    description = _text(person, "description", where)
    text = "\uff0c".join(  # a Chinese comma between marks
        marks + ((description,) if description else ())
    )
    return text or None


def _person(
    ref: PersonRef,
    person: Mapping[str, Any],
    where: str,
    observed: dt.date | None,
    home: str | None,
    seen: tuple[str, ...],
    address: str | None = None,
    origins: tuple[DnaOrigin | None, DnaOrigin | None] = (None, None),
    **profiles: StrProfile | None,
) -> PersonFacts:
    birth, assessed = _birth(person, where, observed)
    name = _text(person, "name", where)
    kind = _name_kind(person, where)
    aliases = _names(person, "former_names", where) + _names(person, "aliases", where)
    if kind is NameKind.NICKNAME and name is not None:
        # A nickname is compared as an alias ("强强" is not surname 强 + given name 强).
        aliases = (name, *aliases)
        name = None
    return PersonFacts(
        ref=ref,
        name=name,
        other_names=aliases,
        name_kind=kind,
        family_name=_text(person, "family_name", where),
        given_names=_text(person, "given_names", where),
        foreign_documents=_documents(person, where),
        address_text=address,
        sex=_sex(person, where),
        birth=birth,
        observed_at=assessed,
        id_number=_text(person, "id_number", where),
        home_province=home,
        seen_provinces=seen,
        marks=_marks(person, where),
        str_profile=profiles.get("own"),
        father_profile=profiles.get("father"),
        mother_profile=profiles.get("mother"),
        dna_origin=origins[0],
        parents_dna_origin=origins[1],
    )


def _id(payload: Mapping[str, Any], key: str, kind: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MatchingInputError(f"{kind} field {key}: missing")
    return value.strip()


def facts_from_alert(
    payload: Mapping[str, Any],
    parents_dna: Mapping[str, Any] | None = None,
    event_id: str | None = None,
) -> PersonFacts:
    """The missing person of an alert; `parents_dna` is a parents-dna-profile payload if any."""
    alert_id = _id(payload, "alert_id", "alert")
    where = f"alert {alert_id}"
    person = _record(payload, "person", where, required=True) or {}
    home = _area(
        _record(payload, "household_registration", where), f"{where}.household_registration"
    )
    seen = _area(_record(payload, "last_seen_place", where), f"{where}.last_seen_place")
    residence_place = _record(payload, "residence", where)
    residence = _area(residence_place, f"{where}.residence")
    father = mother = None
    parents_origin = None
    if parents_dna is not None:
        dw = f"parents-dna {parents_dna.get('profile_id', '?')}"
        if parents_dna.get("alert_id") != alert_id:
            raise MatchingInputError(
                f"{dw} field alert_id: belongs to {parents_dna.get('alert_id')!r}, not {alert_id}"
            )
        father, mother = _profile(parents_dna, "father", dw), _profile(parents_dna, "mother", dw)
        parents_origin = _origin(parents_dna, ("father", "mother"), dw)
    return _person(
        PersonRef(SourceKind.ALERT, event_id or alert_id, alert_id),
        person,
        f"{where}.person",
        _date(payload, "last_seen_at", where),
        home or residence,
        tuple(a for a in (seen, residence) if a),
        _address_text(residence_place, f"{where}.residence"),
        origins=(None, parents_origin),
        father=father,
        mother=mother,
    )


def facts_from_migrant_record(
    payload: Mapping[str, Any], event_id: str | None = None
) -> list[PersonFacts]:
    """The registered person first, then each accompanying child as its own person."""
    record_id = _id(payload, "record_id", "record")
    where = f"record {record_id}"
    event = event_id or record_id
    registered = _date(payload, "registered_on", where) or _date(payload, "moved_in_on", where)
    home = _area(
        _record(payload, "household_registration", where), f"{where}.household_registration"
    )
    current_place = _record(payload, "current_address", where)
    current = _area(current_place, f"{where}.current_address")
    address = _address_text(current_place, f"{where}.current_address")
    seen = (current,) if current else ()
    person = _record(payload, "person", where, required=True) or {}
    people = [
        _person(
            PersonRef(SourceKind.RECORD, event, record_id),
            person,
            f"{where}.person",
            registered,
            home,
            seen,
            address,
        )
    ]
    children = payload.get("children") or []
    if not isinstance(children, list):
        raise MatchingInputError(f"{where} field children: expected a list")
    for i, entry in enumerate(children):
        cw = f"{where}.children[{i}]"
        child = _record(entry, "child", cw, required=True) if isinstance(entry, Mapping) else None
        if child is None:
            raise MatchingInputError(f"{cw}: expected an AccompanyingChild record")
        # A child registered by a guardian is entered under the guardian's household.
        # Schema v2: a child sampled for DNA carries its own profile.
        people.append(
            _person(
                PersonRef(SourceKind.RECORD, event, record_id, i),
                child,
                f"{cw}.child",
                registered,
                home,
                seen,
                address,
                origins=(_origin(entry, ("str_profile",), cw), None),
                own=_profile(entry, "str_profile", cw),
            )
        )
    return people


def facts_from_rescue(payload: Mapping[str, Any], event_id: str | None = None) -> PersonFacts:
    """The rescued person: name as given, estimated age, where found, own STR profile."""
    rescue_id = _id(payload, "rescue_id", "rescue")
    where = f"rescue {rescue_id}"
    person = _record(payload, "person", where, required=True) or {}
    place = _area(_record(payload, "rescue_place", where), f"{where}.rescue_place")
    origin = _area(_record(payload, "trafficked_from", where), f"{where}.trafficked_from")
    return _person(
        PersonRef(SourceKind.RESCUE, event_id or rescue_id, rescue_id),
        person,
        f"{where}.person",
        _date(payload, "rescued_at", where),
        origin,
        tuple(a for a in (place,) if a),
        origins=(_origin(payload, ("str_profile",), where), None),
        own=_profile(payload, "str_profile", where),
    )
