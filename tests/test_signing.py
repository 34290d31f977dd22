"""X-APIMW-Signature signing and verification (docs/apimw-api.md, "Deliveries")."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Callable, Sequence

import pytest

from apimw_cli.models import Verdict, VerdictCode
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.signing import PREFIX, sign, verify

# Known-answer vector, copied from the API notes rather than computed, so that sign() and
# verify() cannot both be wrong in the same way.
KAT_SECRET = "whsec_test_secret"
KAT_BODY = (
    b'{"type":"message.sent","timestamp":"2024-01-15T10:30:00Z","data":'
    b'{"message_id":"wamid.TEST","to":"+1234567890","message_type":"text"}}'
)
KAT_HEADER = "sha256=b345212b020ad248d51ae2303d025c29a54cd4783c4196e4ec8112f3123a392a"

SECRET = "whsec_Zq8LeakCheckAlpha"
OTHER = "whsec_Yp7LeakCheckBravo"
EVENT = {
    "type": "message.received",
    "timestamp": "2024-01-15T10:30:00Z",
    "data": {"message_id": "wamid.X", "from": "+33612345678", "text": "Crème brûlée ✓"},
}
FORM_BODY = b"name=caf\xc3\xa9&amount=12"  # not JSON, so JSON re-serialisation never applies


def compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- sign ---------------------------------------------------------------------------------


def test_sign_matches_known_answer_vector() -> None:
    assert sign(KAT_BODY, KAT_SECRET) == KAT_HEADER


def test_sign_matches_plain_hmac_sha256() -> None:
    body = compact(EVENT)
    expected = hmac.new(SECRET.encode("utf-8"), body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET) == "sha256=" + expected


def test_sign_keys_with_utf8_of_secret() -> None:
    secret = "clé-secrète"
    expected = hmac.new(secret.encode("utf-8"), b"x", hashlib.sha256).hexdigest()
    assert sign(b"x", secret) == "sha256=" + expected


def test_sign_output_is_prefix_and_64_lowercase_hex() -> None:
    value = sign(b"", SECRET)
    assert value.startswith(PREFIX)
    digest = value[len(PREFIX) :]
    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)


def test_sign_rejects_empty_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(b"{}", "")


def test_header_name_and_prefix_constants() -> None:
    assert SIGNATURE_HEADER == "X-APIMW-Signature"
    assert PREFIX == "sha256="


# --- verify: valid ------------------------------------------------------------------------


def test_verify_accepts_known_answer_vector() -> None:
    verdict = verify(KAT_BODY, KAT_HEADER, KAT_SECRET)
    assert verdict.code is VerdictCode.VALID
    assert verdict.valid


def test_verify_rejects_known_answer_vector_with_other_secret() -> None:
    assert verify(KAT_BODY, KAT_HEADER, OTHER).code is VerdictCode.MISMATCH


def test_verify_valid_single_secret_reports_index_zero() -> None:
    body = compact(EVENT)
    verdict = verify(body, sign(body, SECRET), SECRET)
    assert verdict.code is VerdictCode.VALID
    assert verdict.matched_secret == 0
    assert verdict.diagnosis is None


def test_verify_accepts_uppercase_hex_digits() -> None:
    body = compact(EVENT)
    digest = sign(body, SECRET)[len(PREFIX) :]
    assert verify(body, PREFIX + digest.upper(), SECRET).valid


@pytest.mark.parametrize("padding", [" ", "\t", "\r\n", "  \n "])
def test_verify_tolerates_whitespace_around_header(padding: str) -> None:
    body = compact(EVENT)
    assert verify(body, padding + sign(body, SECRET) + padding, SECRET).valid


def test_verify_accepts_secret_given_as_one_element_list() -> None:
    body = compact(EVENT)
    assert verify(body, sign(body, SECRET), [SECRET]).valid


# --- verify: rotation ---------------------------------------------------------------------


def test_rotation_second_secret_matches_and_is_named() -> None:
    body = compact(EVENT)
    verdict = verify(body, sign(body, SECRET), [OTHER, SECRET])
    assert verdict.code is VerdictCode.VALID
    assert verdict.matched_secret == 1
    assert "secret #2 of 2" in verdict.reason


def test_rotation_first_secret_matches_and_is_named() -> None:
    body = compact(EVENT)
    verdict = verify(body, sign(body, OTHER), (OTHER, SECRET))
    assert verdict.matched_secret == 0
    assert "secret #1 of 2" in verdict.reason


def test_rotation_empty_entries_keep_their_position() -> None:
    body = compact(EVENT)
    verdict = verify(body, sign(body, SECRET), ["", SECRET])
    assert verdict.matched_secret == 1
    assert "secret #2 of 2" in verdict.reason


def test_rotation_mismatch_against_every_secret() -> None:
    body = compact(EVENT)
    verdict = verify(body, sign(body, "whsec_unrelated"), [OTHER, SECRET])
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.matched_secret is None


# --- verify: no secret, missing, malformed ------------------------------------------------


@pytest.mark.parametrize("secrets", ["", [], (), [""], ["", ""]], ids=repr)
def test_verify_without_usable_secret_is_no_secret(secrets: str | Sequence[str]) -> None:
    verdict = verify(KAT_BODY, KAT_HEADER, secrets)
    assert verdict.code is VerdictCode.NO_SECRET
    assert not verdict.valid


@pytest.mark.parametrize("header", [None, "", "   ", "\t\r\n"], ids=repr)
def test_verify_missing_or_blank_header_is_missing(header: str | None) -> None:
    assert verify(KAT_BODY, header, KAT_SECRET).code is VerdictCode.MISSING


GOOD_HEX = KAT_HEADER[len(PREFIX) :]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("sha1=" + "a" * 40, id="sha1-prefix"),
        pytest.param("sha512=" + GOOD_HEX, id="other-algorithm"),
        pytest.param("a" * 64, id="bare-hex-no-match"),
        pytest.param("SHA256=" + "a" * 64, id="uppercase-prefix"),
        pytest.param("sha256:" + GOOD_HEX, id="colon-separator"),
        pytest.param("Bearer " + GOOD_HEX, id="junk-prefix"),
        pytest.param("sha256=", id="prefix-only"),
        pytest.param("sha256=" + "g" * 64, id="non-hex-digit"),
        pytest.param("sha256= " + GOOD_HEX[:-1], id="space-after-prefix"),
        pytest.param("sha256=" + GOOD_HEX[:-1], id="too-short"),
        pytest.param("sha256=" + GOOD_HEX + "0", id="too-long"),
        pytest.param("sha256=" + GOOD_HEX + ",sha256=" + GOOD_HEX, id="two-signatures"),
    ],
)
def test_verify_malformed_header_is_malformed(header: str) -> None:
    verdict = verify(KAT_BODY, header, KAT_SECRET)
    assert verdict.code is VerdictCode.MALFORMED
    assert verdict.diagnosis is None


def test_verify_wrong_length_reason_gives_digit_count() -> None:
    verdict = verify(KAT_BODY, "sha256=" + GOOD_HEX[:40], KAT_SECRET)
    assert "40" in verdict.reason


def test_bare_valid_hmac_is_malformed_with_missing_prefix_diagnosis() -> None:
    verdict = verify(KAT_BODY, GOOD_HEX.upper(), KAT_SECRET)
    assert verdict.code is VerdictCode.MALFORMED
    assert verdict.diagnosis is not None
    assert "valid HMAC but lacks the 'sha256=' prefix" in verdict.diagnosis


def test_uppercase_prefix_with_valid_hmac_is_malformed_with_diagnosis() -> None:
    verdict = verify(KAT_BODY, "SHA256=" + GOOD_HEX, KAT_SECRET)
    assert verdict.code is VerdictCode.MALFORMED
    assert verdict.diagnosis is not None
    assert "valid HMAC" in verdict.diagnosis


def test_verify_no_secret_takes_precedence_over_missing_header() -> None:
    assert verify(KAT_BODY, None, []).code is VerdictCode.NO_SECRET


# --- verify: mismatch and its diagnoses ---------------------------------------------------


def test_verify_plain_mismatch_has_no_diagnosis() -> None:
    verdict = verify(KAT_BODY, sign(b"something else entirely", KAT_SECRET), KAT_SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is None
    assert verdict.matched_secret is None


def test_verify_tampered_body_is_mismatch() -> None:
    tampered = KAT_BODY.replace(b"+1234567890", b"+1234567891")
    assert verify(tampered, KAT_HEADER, KAT_SECRET).code is VerdictCode.MISMATCH


# (how the sender serialised, how the receiver's framework re-serialised)
JSON_RESERIALISATIONS: list[tuple[Callable[[object], str], Callable[[object], str]]] = [
    (lambda o: json.dumps(o, separators=(",", ":")), json.dumps),
    (lambda o: json.dumps(o, separators=(",", ":"), ensure_ascii=False), json.dumps),
    (json.dumps, lambda o: json.dumps(o, separators=(",", ":"))),
    (lambda o: json.dumps(o, indent=2), lambda o: json.dumps(o, separators=(",", ":"))),
]


@pytest.mark.parametrize(
    ("signed_as", "received_as"),
    JSON_RESERIALISATIONS,
    ids=["compact-to-default", "unicode-to-ascii", "default-to-compact", "indented"],
)
def test_diagnosis_json_reserialised_body(
    signed_as: Callable[[object], str], received_as: Callable[[object], str]
) -> None:
    event = {"z": 1, **EVENT}  # unsorted keys, so sort_keys changes the bytes
    original = signed_as(event).encode("utf-8")
    received = received_as(json.loads(original)).encode("utf-8")
    assert received != original
    verdict = verify(received, sign(original, SECRET), SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None
    assert "re-serialised as JSON" in verdict.diagnosis
    assert "raw request bytes" in verdict.diagnosis


def test_diagnosis_json_reserialised_body_with_keys_reordered() -> None:
    # Sender sorted the keys; the receiver's copy has them in another order: only sort_keys fits.
    event = {"z": 1, **EVENT}
    original = json.dumps(event, sort_keys=True, separators=(",", ":")).encode("utf-8")
    received = json.dumps(event).encode("utf-8")
    verdict = verify(received, sign(original, SECRET), SECRET)
    assert verdict.diagnosis is not None
    assert "re-serialised as JSON" in verdict.diagnosis


def test_diagnosis_json_is_skipped_for_bodies_over_one_mib() -> None:
    event = {"type": "message.sent", "data": {"blob": "x" * (1024 * 1024)}}
    original = compact(event)
    received = json.dumps(event).encode("utf-8")
    verdict = verify(received, sign(original, SECRET), SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is None


@pytest.mark.parametrize("padding", ["\n", " ", "\r\n", "\t "], ids=repr)
def test_diagnosis_secret_with_surrounding_whitespace(padding: str) -> None:
    verdict = verify(FORM_BODY, sign(FORM_BODY, SECRET), SECRET + padding)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None
    assert "whitespace" in verdict.diagnosis
    assert "secret" in verdict.diagnosis


def test_diagnosis_names_which_secret_when_several() -> None:
    verdict = verify(FORM_BODY, sign(FORM_BODY, SECRET), [OTHER, SECRET + "\n"])
    assert verdict.diagnosis is not None
    assert "secret #2 of 2" in verdict.diagnosis


@pytest.mark.parametrize("body", [FORM_BODY, compact(EVENT)], ids=["form", "json"])
def test_diagnosis_trailing_newline_appended_to_body(body: bytes) -> None:
    verdict = verify(body + b"\n", sign(body, SECRET), SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None
    assert "without its trailing whitespace" in verdict.diagnosis


@pytest.mark.parametrize("body", [FORM_BODY, compact(EVENT)], ids=["form", "json"])
def test_diagnosis_trailing_newline_stripped_from_body(body: bytes) -> None:
    verdict = verify(body, sign(body + b"\n", SECRET), SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None
    assert "with a trailing newline" in verdict.diagnosis


def test_diagnosis_secret_prefix_dropped_by_signer() -> None:
    verdict = verify(FORM_BODY, sign(FORM_BODY, SECRET.removeprefix("whsec_")), SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None
    assert "without its 'whsec_' prefix" in verdict.diagnosis


def test_diagnosis_secret_prefix_missing_from_configured_secret() -> None:
    verdict = verify(FORM_BODY, sign(FORM_BODY, SECRET), SECRET.removeprefix("whsec_"))
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None
    assert "with a 'whsec_' prefix" in verdict.diagnosis


@pytest.mark.parametrize(
    ("original", "received"),
    [
        (FORM_BODY, FORM_BODY.decode("latin-1").encode("utf-8")),
        (FORM_BODY, FORM_BODY.decode("utf-8").encode("latin-1")),
    ],
    ids=["utf8-read-as-latin1", "utf8-written-as-latin1"],
)
def test_diagnosis_encoding_conversion(original: bytes, received: bytes) -> None:
    verdict = verify(received, sign(original, SECRET), SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None
    assert "encoding conversion" in verdict.diagnosis


def test_diagnosis_encoding_skips_bodies_that_cannot_convert() -> None:
    # Not valid UTF-8, so one direction raises; the other finds nothing: no crash, no diagnosis.
    body = b"\xff\xfe raw"
    verdict = verify(body, sign(b"unrelated", SECRET), SECRET)
    assert verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is None


def test_diagnosis_json_comes_before_secret_whitespace() -> None:
    # Both causes are present for different secrets: the first rule in order wins.
    original = compact(EVENT)
    received = json.dumps(EVENT).encode("utf-8")
    header = sign(original, SECRET)
    verdict = verify(received, header, [SECRET + "\n", SECRET])
    assert verdict.diagnosis is not None
    assert "re-serialised as JSON" in verdict.diagnosis


# --- secrets never leak into text ---------------------------------------------------------

LEAK_SECRETS = [SECRET, " " + OTHER + "\n"]


def _leak_cases() -> list[tuple[str, bytes, str | None, list[str]]]:
    body = compact(EVENT)
    bare = SECRET.removeprefix("whsec_")
    return [
        ("valid", body, sign(body, SECRET), LEAK_SECRETS),
        ("valid-rotated", body, sign(body, OTHER.strip()), [OTHER.strip(), SECRET]),
        ("missing", body, None, LEAK_SECRETS),
        ("blank", body, "  ", LEAK_SECRETS),
        ("no-secret", body, sign(body, SECRET), []),
        ("malformed-sha1", body, "sha1=" + "0" * 40, LEAK_SECRETS),
        ("malformed-bare-valid", body, sign(body, SECRET)[len(PREFIX) :], LEAK_SECRETS),
        ("malformed-short", body, "sha256=abc", LEAK_SECRETS),
        ("mismatch", body, sign(b"other", SECRET), LEAK_SECRETS),
        ("diag-json", json.dumps(EVENT).encode(), sign(body, SECRET), LEAK_SECRETS),
        ("diag-secret-space", FORM_BODY, sign(FORM_BODY, OTHER), LEAK_SECRETS),
        ("diag-newline", FORM_BODY + b"\n", sign(FORM_BODY, SECRET), LEAK_SECRETS),
        ("diag-whsec-dropped", FORM_BODY, sign(FORM_BODY, bare), [SECRET]),
        ("diag-whsec-added", FORM_BODY, sign(FORM_BODY, SECRET), [bare]),
        (
            "diag-encoding",
            FORM_BODY.decode("latin-1").encode(),
            sign(FORM_BODY, SECRET),
            LEAK_SECRETS,
        ),
    ]


LEAK_CASES = _leak_cases()


@pytest.mark.parametrize(
    ("body", "header", "secrets"),
    [case[1:] for case in LEAK_CASES],
    ids=[case[0] for case in LEAK_CASES],
)
def test_secrets_never_appear_in_reason_or_diagnosis(
    body: bytes, header: str | None, secrets: list[str]
) -> None:
    verdict = verify(body, header, secrets)
    text = verdict.reason + " " + (verdict.diagnosis or "")
    for secret in secrets:
        for form in {secret, secret.strip(), secret.strip().removeprefix("whsec_")}:
            assert form not in text


def test_leak_cases_cover_every_verdict_code_and_diagnosis() -> None:
    verdicts: list[Verdict] = [verify(b, h, s) for _, b, h, s in LEAK_CASES]
    assert {v.code for v in verdicts} == set(VerdictCode) - {VerdictCode.SKIPPED}
    diagnosed = {name for (name, *_), v in zip(LEAK_CASES, verdicts, strict=True) if v.diagnosis}
    expected = {name for name, *_ in LEAK_CASES if name.startswith("diag-")}
    assert diagnosed == expected | {"malformed-bare-valid"}


# --- constant-time comparison -------------------------------------------------------------


def test_verify_compares_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def recording(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    digest = KAT_HEADER[len(PREFIX) :]
    assert verify(KAT_BODY, PREFIX + digest.upper(), KAT_SECRET).valid
    assert calls == [(digest, digest)]


def test_verify_outcome_comes_from_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    # If verify compared with == somewhere, forcing compare_digest to say "no" would not matter.
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    assert verify(KAT_BODY, KAT_HEADER, KAT_SECRET).code is VerdictCode.MISMATCH


# --- property -----------------------------------------------------------------------------


def test_property_sign_then_verify_round_trips_and_detects_tampering() -> None:
    rng = random.Random(20240115)
    alphabet = "abcXYZ019_-+/= \té✓"
    for _ in range(300):
        body = rng.randbytes(rng.randrange(0, 600))
        secret = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        header = sign(body, secret)
        assert verify(body, header, secret).valid, (body, secret)
        if body:
            pos = rng.randrange(len(body))
            flipped = body[:pos] + bytes([body[pos] ^ 0x01]) + body[pos + 1 :]
            assert verify(flipped, header, secret).code is VerdictCode.MISMATCH
