"""Revocations beyond the keyword lists: Spanish commands and wishes, disguised spellings, a
revocation word closing a refusal; and the blind batch written before these rules."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from messaging.keywords import Assessment, Intent, assess

DATA = Path(__file__).parent / "data"


def label_of(assessment: Assessment) -> str:
    return "review" if assessment.needs_review else assessment.intent.value


def scored(name: str) -> list[tuple[str, str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return [(r["text"], r["label"], label_of(assess(r["text"]))) for r in csv.DictReader(f)]


# Probes written for the rules' forms, in none of the corpora.
@pytest.mark.parametrize(
    "text",
    [
        # Spanish: infinitive, imperative with the pronoun attached, negative command, wish.
        "deja de enviarme esas promociones", "Dejen de mandarnos textos", "dejar de enviarme",
        "quisiera dejar de recibir las notificaciones", "favor de no mandar más textos",
        "no me manden más", "No me envíes nada", "no me escriban nunca",
        "no me vuelvas a mandar mensajes", "no queremos que nos sigan escribiendo",
        "no quiero que me llamen",
        "Bórrame", "elimínenme de su lista por favor", "sáquenme de esta lista", "desuscríbanme",
        "dame de baja", "darme de baja", "quiero salir de su lista", "ya no quiero",
        "ya no quiero nada, gracias",
        "basta con tantos mensajes", "detengan los mensajes", "cancelen las notificaciones",
        # Disguised spellings.
        "ST0P", "5top", "$TOP!!", "st0p texting me", "unsubscr1be", "UN5UB5CRIBE", "0PT OUT",
        "c4ncel", "3ND", "r3move my number", "4lto", "b4ja",
        # A revocation word closing a refusal.
        "we're done here, end", "no thanks. cancel", "not interested!! END",
        "too many texts, cancel", "no more texts STOP", "not interested, stop",
    ],
)  # fmt: skip
def test_it_reads_these_forms_as_certain_revocations(text: str) -> None:
    assert assess(text).intent is Intent.OPT_OUT, assess(text)


@pytest.mark.parametrize(
    "text",
    [
        "no paren las ofertas, están buenísimas", "No dejes de mandarme cupones",
        "no me manden el pedido hasta el lunes", "ya no quiero la talla M, ¿hay L?",
        "borré tu mensaje sin querer", "¿Cómo cancelo mi pedido 3321?", "¿para cuándo la oferta?",
        "quítame la salsa del pedido", "no cancelar la cita por favor",
        "Can you stop the payment on order 12?", "could you please stop my order", "st0re hours?",
        "Is the 50% off sale ending?", "2 for 1 deal still on?", "I'm done shopping, thanks",
        "Cancel. I can't make it Tuesday", "cancel my 4pm",
    ],
)  # fmt: skip
def test_it_does_not_read_these_as_revocations(text: str) -> None:
    assert assess(text).intent is not Intent.OPT_OUT, assess(text)


def test_it_names_a_disguised_revocation_in_its_matched_rule() -> None:
    assert assess("5TOP") == Assessment(Intent.OPT_OUT, "certain", "disguised keyword:stop")


@pytest.mark.parametrize("corpus", ["intent_corpus.csv", "intent_blind_batch.csv"])
def test_it_makes_no_false_opt_out_on_either_labelled_corpus(corpus: str) -> None:
    false_opt_outs = [(t, e) for t, e, p in scored(corpus) if p == "opt_out" and e != "opt_out"]
    assert false_opt_outs == []


def test_it_honours_or_flags_every_revocation_of_the_blind_batch() -> None:
    rows = scored("intent_blind_batch.csv")
    revocations = [(t, p) for t, e, p in rows if e == "opt_out"]
    assert len(rows) >= 150 and len(revocations) >= 90
    assert [(t, p) for t, p in revocations if p not in ("opt_out", "review")] == []
    recall = sum(1 for _, p in revocations if p == "opt_out") / len(revocations)
    assert recall >= 0.95
