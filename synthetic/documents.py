"""Turn generated people into alerts, migrant records and rescue notices, with true-match labels."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hub.matching.idnumber import parse
from hub.matching.kinship import AlleleTable
from hub.matching.labelled import Label, Payload
from hub.sampling import birth_years
from synthetic import pools
from synthetic.generator import (
    Dataset,
    Generator,
    Person,
    birth_record,
    random_date,
    today,
)

_EARLIEST_LOSS = dt.date(2008, 1, 1)


def generate(size: int, seed: int, table: AlleleTable | None = None) -> Dataset:
    """About `size` persons in all: a quarter in alerts, the rest in records and rescue notices.

    About 40 % of alerts have a true counterpart; the other documents are people nobody seeks,
    drawn from the same name and place pools, so common names collide as in real registers.
    """
    gen = Generator(seed, table)
    data = Dataset(world=gen.world, seed=seed)
    n_alerts = max(1, size // 4)
    for _ in range(n_alerts):
        _alert_with_fate(gen, data)
    persons = sum(1 + len(r["children"]) for r in data.records) + len(data.rescues) + n_alerts
    while persons < size:
        if gen.rng.random() < 0.1:
            data.rescues.append(_background_rescue(gen))
            persons += 1
        else:
            record = _background_record(gen)
            data.records.append(record)
            persons += 1 + len(record["children"])
    # Documents arrive in no particular order; shuffling keeps labels valid (they use ids).
    gen.rng.shuffle(data.records)
    gen.rng.shuffle(data.rescues)
    return data


def _alert_with_fate(gen: Generator, data: Dataset) -> None:
    rng = gen.rng
    child = rng.random() < 0.6
    sex = "F" if not child or rng.random() < 0.45 else "M"
    lost = dt.date.fromordinal(rng.randint(_EARLIEST_LOSS.toordinal(), today().toordinal() - 30))
    age = rng.randint(0, 12) if child else rng.randint(14, 38)
    birth = lost - dt.timedelta(days=age * 365 + rng.randint(0, 364))
    home = gen.weighted(pools.SOURCE_WEIGHTS)
    person = gen.person(sex, birth, home)
    alert = _alert(gen, person, lost, child, data)
    data.alerts.append(alert)
    if rng.random() >= 0.4:
        return
    found = random_date(
        rng, lost + dt.timedelta(days=20), min(today(), lost + dt.timedelta(days=365 * 8))
    )
    if child:
        if person.profile is None:
            person.profile = gen.child_profile(*_parents_of(gen))
        if rng.random() < 0.5:
            rescue = _rescue_of(gen, person, found, home, child=True)
            data.rescues.append(rescue)
            _label(data, (alert["alert_id"], rescue["rescue_id"], None), rescue["person"], person)
        else:
            record, index = _record_with_child(gen, person, found)
            data.records.append(record)
            label = (alert["alert_id"], record["record_id"], index)
            data.labels.append(label)
            sample = str_payload(person.profile, gen)
            if sample is not None:
                data.child_profiles[(record["record_id"], index)] = sample
            earlier = _registered_late(gen, record, index, lost)
            if earlier is not None:
                data.records.append(earlier)
                data.late_registered.add(label)
    elif rng.random() < 0.8:
        record = _record_of_woman(gen, person, found)
        data.records.append(record)
        _label(data, (alert["alert_id"], record["record_id"], None), record["person"], person)
    else:
        rescue = _rescue_of(gen, person, found, home)
        data.rescues.append(rescue)
        _label(data, (alert["alert_id"], rescue["rescue_id"], None), rescue["person"], person)


def _label(data: Dataset, label: Label, written: Payload, p: Person) -> None:
    """A true pair, tagged when its name was written as a given name only or sound-alike."""
    data.labels.append(label)
    name = written.get("name")
    if written.get("name_kind") == "GIVEN_ONLY":
        data.name_cases[label] = "given_name_only"
    elif name and name[0] != p.surname[:1] and pools.SOUND_ALIKE_SURNAMES.get(p.surname) == (
        name[0]
    ):
        data.name_cases[label] = "sound_alike_surname"


def _parents_of(gen: Generator) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    # Parents who gave no blood still have genes: draw them so the child's profile is real.
    return gen.profile(), gen.profile()


def _sex_symbol(sex: str) -> str:
    return {"M": "MALE", "F": "FEMALE"}.get(sex, "UNKNOWN")


def _id_status(number: str | None) -> str:
    if not number:
        return "NOT_GIVEN"
    parsed = parse(number)
    if parsed is None:
        return "INVALID_FORMAT"
    if parsed.birth is None:
        return "INVALID_DATE"
    return "VALID" if parsed.check_ok else "INVALID_CHECK_DIGIT"


def person_payload(
    name: str | None,
    sex: str,
    birth: Payload | None,
    id_number: str | None = None,
    marks: str | None = None,
    aliases: list[str] | None = None,
    former: list[str] | None = None,
) -> Payload:
    """A Person record of the event schemas."""
    return {
        "name": name,
        "former_names": former or [],
        "aliases": aliases or [],
        "sex": _sex_symbol(sex),
        "birth": birth or birth_record("UNKNOWN", None),
        "ethnicity": None,
        "id_number": id_number,
        "id_number_status": _id_status(id_number),
        "height_cm": None,
        "blood_type": None,
        "description": None,
        "marks": [marks] if marks else [],
        "dialect": None,
        "clothing": None,
        "belongings": None,
        "photo_ref": None,
    }


def _place(area: str) -> Payload:
    return {"area_code": area, "text": ""}


def _moment(day: dt.date, gen: Generator) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(gen.rng.randint(6, 21), gen.rng.randint(0, 59)), dt.UTC)


def str_payload(
    profile: dict[str, list[str]] | None, gen: Generator | None = None
) -> Payload | None:
    """A StrProfile record from locus -> [allele, allele], with the run's kit, lab, population."""
    if profile is None:
        return None
    loci = [{"locus": locus, "alleles": list(alleles)} for locus, alleles in profile.items()]
    world = gen.world if gen is not None else None
    if world is None:
        return {"kit": "Goldeneye 20A", "lab": None, "loci": loci}
    return {"kit": world.kit, "lab": world.lab, "loci": loci, "population": world.population}


def _alert(
    gen: Generator, p: Person, lost: dt.date, child: bool, data: Dataset | None = None
) -> Payload:
    rng = gen.rng
    alert_id = gen.next_id("A")
    father = mother = None
    if child and rng.random() < 0.65:
        father, mother = gen.profile(), gen.profile()
        p.profile = gen.child_profile(father, mother)
        if rng.random() < 0.4:  # only one parent gave blood: a duo
            if rng.random() < 0.5:
                father = None
            else:
                mother = None
        if data is not None:
            data.parents_dna.append(
                {
                    "profile_id": gen.next_id("D"),
                    "alert_id": alert_id,
                    "mother": str_payload(mother, gen),
                    "father": str_payload(father, gen),
                    "sampled_on": lost + dt.timedelta(days=rng.randint(1, 30)),
                    "issuing_unit": f"{p.area[:4]}00-police",
                }
            )
    has_id = not p.latin and (not child or _age(p, lost) >= 3) and rng.random() < 0.85
    birth = birth_record("DAY", p.birth)
    if p.latin:
        birth = gen.birth_fields(p.birth, lost, 0.0, 0)
    province = p.area[:2] + "0000"
    seen = p.area if rng.random() < 0.7 else gen.area(province)
    return {
        "alert_id": alert_id,
        "case_number": None,
        "case_type": _case_type(rng.random(), child),
        "person": person_payload(
            p.name,
            p.sex,
            birth,
            p.id_number if has_id else None,
            p.marks,
            aliases=[p.nickname] if p.nickname else [],
        ),
        "residence": None,
        "household_registration": _place(p.area),
        "last_seen_place": _place(seen),
        "last_seen_at": _moment(lost, gen),
        "circumstances": "最后一次被看见后失去联系",
        "possible_destination": None,
        "reason": "MISSING_MINOR" if child else "MISSING_ADULT_AT_RISK",
        "action_on_hit": "PLACE_UNDER_PROTECTION",
        "urgency": "IMMEDIATE" if child else "URGENT",
        "issuing_unit": f"{p.area[:4]}00-police",
        "jurisdiction": p.area[:4] + "00",
        "officer_contact": None,
        "reporter": None,
        "reported_at": _moment(lost + dt.timedelta(days=1), gen),
    }


def _case_type(roll: float, child: bool) -> str:
    """A case type from one draw (one draw, so the rest of a seed's data stays the same).

    Most alerts are runaways and lost persons; DOMAIN.md: of ~3,000 alerts of the national
    platform only a few dozen were trafficking victims. Women run away more often than children.
    """
    cuts = (0.3, 0.4, 0.65, 0.9) if child else (0.25, 0.3, 0.75, 0.9)
    for symbol, cut in zip(("SUSPECTED_TRAFFICKING", "ABDUCTION", "RUNAWAY", "LOST"), cuts,
                           strict=True):
        if roll < cut:
            return symbol
    return "UNKNOWN"


def _age(p: Person, on: dt.date) -> int:
    return on.year - p.birth.year - ((on.month, on.day) < (p.birth.month, p.birth.day))


def _written_id(gen: Generator, p: Person, keep: float) -> str | None:
    roll = gen.rng.random()
    if not p.id_number or roll >= keep:
        return None
    return gen.mistype(p.id_number) if roll < keep * 0.15 else p.id_number


def _record_of_woman(gen: Generator, p: Person, found: dt.date) -> Payload:
    rng = gen.rng
    destination = gen.weighted(pools.DESTINATION_WEIGHTS)
    heard = False
    if p.latin:
        name = gen.latin_variant(p.name)
    else:
        roll = rng.random()
        name = p.name
        if roll < 0.2:
            name = p.surname + gen.homophone(p.given)
        elif roll < 0.3:
            name = gen.surname() + p.given  # registered under a husband's clan name
        elif roll < 0.4 and p.surname in pools.SOUND_ALIKE_SURNAMES:
            name = pools.SOUND_ALIKE_SURNAMES[p.surname] + p.given  # written as heard
            heard = True
    real_id = rng.random() < 0.7
    return _record(
        gen,
        name=name,
        sex=p.sex,
        birth=gen.birth_fields(p.birth, found, 0.75 if real_id else 0.3, 1),
        id_number=_written_id(gen, p, 1.0) if real_id else None,
        household=p.area if real_id else gen.area(destination),
        registered=gen.area(destination),
        when=found,
        marks=p.marks if rng.random() < 0.4 else None,
        # A name written as heard has no former name on file; this also keeps the draws of
        # the main stream as they were before sound-alike surnames existed.
        former=[p.name] if name != p.name and not heard and rng.random() < 0.2 else [],
    )


def _record(gen: Generator, **f: Any) -> Payload:
    return {
        "record_id": gen.next_id("R"),
        "person": person_payload(
            f["name"],
            f["sex"],
            f["birth"],
            f["id_number"],
            f.get("marks"),
            former=f.get("former", []),
        ),
        "household_registration": _place(f["household"]),
        "current_address": _place(f["registered"]),
        "dwelling_code": None,
        "moved_in_on": f["when"] - dt.timedelta(days=gen.rng.randint(0, 3)),
        "moved_out_on": None,
        "occupation": None,
        "employer": None,
        "reason_for_stay": None,
        "household_head_relation": None,
        "marital_status": "UNKNOWN",
        "phone": None,
        "children": [],
        "registered_on": f["when"],
        "registering_station": f"{f['registered'][:4]}00-police",
    }


def _child_entry(
    gen: Generator, name: str | None, p: Person, found: dt.date, **over: Any
) -> Payload:
    nickname = over.get("nickname")
    child = person_payload(
        name,
        p.sex,
        over.get("birth") or gen.birth_fields(p.birth, found, 0.2, 1),
        over.get("id_number"),
        over.get("marks"),
        aliases=[nickname] if nickname else [],
    )
    return {
        "child": child,
        "guardian_relation": over.get("relation", "MOTHER"),
        "relation_text": None,
    }


def _record_with_child(gen: Generator, p: Person, found: dt.date) -> tuple[Payload, int]:
    """A buyer family registers the child as its own: new surname, often a new given name."""
    rng = gen.rng
    destination = gen.weighted(pools.DESTINATION_WEIGHTS)
    guardian_birth = p.birth - dt.timedelta(days=365 * rng.randint(24, 45))
    guardian = gen.person(rng.choice("MF"), guardian_birth, destination)
    record = _background_record(gen, guardian=guardian, when=found, with_children=False)
    roll = rng.random()
    given = (
        p.given if roll < 0.35 else gen.homophone(p.given) if roll < 0.5 else gen.given_name(p.sex)
    )
    surname = guardian.surname if rng.random() < 0.75 else p.surname
    name = None if p.latin else surname + given
    fake = gen.id_number(guardian.area, p.birth + dt.timedelta(days=rng.randint(-400, 400)), p.sex)
    id_roll = rng.random()
    entry = _child_entry(
        gen,
        name,
        p,
        found,
        nickname=p.nickname if p.nickname and rng.random() < 0.4 else None,
        id_number=fake if id_roll < 0.2 else _written_id(gen, p, 1.0) if id_roll < 0.28 else None,
        marks=p.marks if p.marks and rng.random() < 0.3 else None,
        relation=_buyers_relation(gen.late_rng.random()),
    )
    siblings = [_random_child(gen, guardian, found) for _ in range(rng.randint(0, 2))]
    index = rng.randint(0, len(siblings))
    siblings.insert(index, entry)
    record["children"] = siblings
    return record, index


def _registered_late(
    gen: Generator, record: Payload, index: int, lost: dt.date
) -> Payload | None:
    """Half the buyer households were registered before the child went missing and list it
    only later, renamed with the family's surname and a new given name. Returns that earlier
    registration (same record id), listing the other children born by then; None otherwise."""
    rng = gen.late_rng
    start = max(_EARLIEST_LOSS - dt.timedelta(days=2 * 365), lost - dt.timedelta(days=5 * 365))
    if rng.random() >= 0.5 or start >= lost:
        return None
    before = random_date(rng, start, lost - dt.timedelta(days=1))
    child = record["children"][index]["child"]
    guardian = record["person"].get("name")
    if child.get("name") and guardian:
        with gen.drawing_from(rng):
            given = gen.given_name("F" if child["sex"] == "FEMALE" else "M")
        child["name"], child["aliases"] = guardian[0] + given, []
    earlier = copy.deepcopy(record)
    earlier["registered_on"] = before
    earlier["moved_in_on"] = before - dt.timedelta(days=rng.randint(0, 3))
    found = record["registered_on"]
    earlier["children"] = [
        copy.deepcopy(entry) for i, entry in enumerate(record["children"])
        if i != index and (years := birth_years(entry["child"], found)) is not None
        and years[1] <= before.year
    ]
    return earlier


def _rescue_of(
    gen: Generator, p: Person, found: dt.date, home: str, child: bool = False
) -> Payload:
    rng = gen.rng
    destination = gen.weighted(pools.DESTINATION_WEIGHTS)
    roll = rng.random()
    kind = "FULL"
    if p.latin:
        name: str | None = gen.latin_variant(p.name)
    elif roll < 0.3 and p.nickname:
        name = p.nickname
    elif roll < 0.55:
        name = p.surname + gen.homophone(p.given) if rng.random() < 0.4 else p.name
    elif roll < 0.85:
        name = gen.surname() + gen.given_name(p.sex)
        # Drawn apart so the rest of the data stays as before these cases existed.
        case = gen.names_rng.random()
        if case < 0.35 and child:
            # A young child knows its given name ("洋", "秀英"), not always its surname.
            name, kind = p.given, "GIVEN_ONLY"
        elif case < 0.55 and p.surname in pools.SOUND_ALIKE_SURNAMES:
            name = pools.SOUND_ALIKE_SURNAMES[p.surname] + p.given  # the surname as heard
    else:
        name = None
    birth = gen.birth_fields(p.birth, found, 0.0, 1)
    return _rescue(
        gen,
        name=name,
        name_kind=kind,
        sex=p.sex,
        birth=birth,
        found=found,
        area=gen.area(destination),
        from_area=p.area if rng.random() < 0.3 else None,
        marks=p.marks if p.marks and rng.random() < 0.7 else None,
        profile=p.profile if p.profile and _age(p, found) < 18 and rng.random() < 0.85 else None,
    )


def _rescue(gen: Generator, **f: Any) -> Payload:
    area = f["area"]
    return {
        "rescue_id": gen.next_id("S"),
        "person": dict(
            person_payload(f["name"], f["sex"], f["birth"], None, f["marks"]),
            name_kind=f.get("name_kind", "FULL"),
        ),
        "rescued_at": _moment(f["found"], gen),
        "rescue_place": _place(area),
        "trafficked_from": _place(f["from_area"]) if f["from_area"] else None,
        "own_account": None,
        "health": None,
        "placement": {
            "kind": "WELFARE_INSTITUTION",
            "institution": "儿童福利院",
            "area_code": area[:4] + "00",
            "contact": None,
            "since": f["found"],
        },
        "str_profile": str_payload(_maybe_degraded(gen, f["profile"]), gen),
        "issuing_unit": f"{area[:4]}00-civil-affairs",
    }


def _maybe_degraded(
    gen: Generator, profile: dict[str, list[str]] | None
) -> dict[str, list[str]] | None:
    # A quarter of rescued children's samples type only part of the kit.
    if profile is None or gen.world is None or gen.rng.random() >= 0.25:
        return profile
    return gen.degrade(profile)


def _random_child(gen: Generator, guardian: Person, when: dt.date) -> Payload:
    rng = gen.rng
    birth = when - dt.timedelta(days=rng.randint(0, 16 * 365))
    kid = gen.person(rng.choice("MF"), birth, guardian.area[:2] + "0000", surname=guardian.surname)
    has_id = rng.random() < 0.5
    return _child_entry(
        gen,
        kid.name,
        kid,
        when,
        nickname=kid.nickname if rng.random() < 0.2 else None,
        id_number=gen.id_number(guardian.area, birth, kid.sex) if has_id else None,
        birth=birth_record("DAY", birth) if has_id else gen.birth_fields(birth, when, 0.5, 0),
        marks=kid.marks if rng.random() < 0.3 else None,
        # Grandparents and aunts register children too (their own stream, see Generator).
        relation=_honest_relation(gen.late_rng.random()),
    )


def _honest_relation(roll: float) -> str:
    return "GRANDPARENT" if roll < 0.08 else "OTHER_RELATIVE" if roll < 0.1 else "MOTHER"


def _buyers_relation(roll: float) -> str:
    # Most buyers register the child as their own; some as a relative's or a friend's.
    return "OTHER_RELATIVE" if roll < 0.1 else "NON_RELATIVE" if roll < 0.15 else "MOTHER"


def _background_record(
    gen: Generator,
    guardian: Person | None = None,
    when: dt.date | None = None,
    with_children: bool = True,
) -> Payload:
    rng = gen.rng
    when = when or random_date(rng, dt.date(2010, 1, 1), today())
    if guardian is None:
        birth = when - dt.timedelta(days=rng.randint(16 * 365, 60 * 365))
        guardian = gen.person(rng.choice("MF"), birth, gen.weighted(pools.SOURCE_WEIGHTS))
    destination = gen.weighted(pools.DESTINATION_WEIGHTS)
    record = _record(
        gen,
        name=gen.latin_variant(guardian.name) if guardian.latin else guardian.name,
        sex=guardian.sex,
        birth=gen.birth_fields(guardian.birth, when, 0.85, 0)
        if not guardian.latin
        else gen.birth_fields(guardian.birth, when, 0.0, 1),
        id_number=guardian.id_number or None if rng.random() < 0.9 else None,
        household=guardian.area,
        registered=gen.area(destination),
        when=when,
        marks=guardian.marks if rng.random() < 0.2 else None,
    )
    if with_children and rng.random() < 0.35:
        record["children"] = [_random_child(gen, guardian, when) for _ in range(rng.randint(1, 3))]
    return record


def _background_rescue(gen: Generator) -> Payload:
    """A rescued child or woman nobody has reported (yet)."""
    rng = gen.rng
    when = random_date(rng, dt.date(2010, 1, 1), today())
    child = rng.random() < 0.7
    age_days = rng.randint(0, 13 * 365) if child else rng.randint(14 * 365, 35 * 365)
    sex = "F" if not child or rng.random() < 0.5 else "M"
    p = gen.person(sex, when - dt.timedelta(days=age_days), gen.weighted(pools.SOURCE_WEIGHTS))
    return _rescue(
        gen,
        name=p.nickname if rng.random() < 0.4 else p.name if rng.random() < 0.7 else None,
        sex=sex,
        birth=gen.birth_fields(p.birth, when, 0.0, 1),
        found=when,
        area=gen.area(gen.weighted(pools.DESTINATION_WEIGHTS)),
        from_area=None,
        marks=p.marks,
        profile=gen.profile() if child and rng.random() < 0.8 else None,
    )
