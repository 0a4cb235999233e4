"""BootstrapConfig in the JSON form of Leshan's bootstrap server demo (see Leshan 2.0's
BootstrapServlet and DefaultConfigurationChecker): the demo's example config, byte fields as
int arrays or base64, defaults, every refusal of the checker, and the Bootstrap-Writes it makes,
which encode and decode back unchanged over the real object model (objects/*.xml)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from lwm2m_mlaas.core.bootstrap import BootstrapConfig, BootstrapConfigError
from lwm2m_mlaas.core.codecs import decode, encode
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import InvalidRequest, ResponseCode
from lwm2m_mlaas.core.nodes import ObjectInstance, ObjectLink, ResourceType, SingleResource
from lwm2m_mlaas.core.paths import Lwm2mPath
from tests.helpers.bootstrap import BS_KEY, DM_KEY, LESHAN_EXAMPLE

T = ResourceType
MODEL = load_default()


def example(**changes: Any) -> dict[str, Any]:
    """A deep copy of the Leshan example with top-level keys replaced."""
    return {**copy.deepcopy(LESHAN_EXAMPLE), **changes}


def with_entry(kind: str, instance: str, **changes: Any) -> dict[str, Any]:
    """The Leshan example with fields of one security/servers/oscore entry replaced (a value
    of None removes the field)."""
    data = example()
    entry = data.setdefault(kind, {}).setdefault(instance, {})
    for name, value in changes.items():
        if value is None:
            entry.pop(name, None)
        else:
            entry[name] = value
    return data


# reading Leshan's JSON
def test_leshan_example_is_read() -> None:
    config = BootstrapConfig.from_json(LESHAN_EXAMPLE)
    assert config.to_delete == ("/0", "/1", "/21")
    assert config.bootstrap_psk() == ("ep1-bs-id", BS_KEY)
    assert config.bootstrap_security() is config.security[0]
    assert list(config.dm_security()) == [1]
    dm = config.security[1]
    assert (dm["publicKeyOrId"], dm["secretKey"], dm["serverId"]) == (b"ep1-dm-id", DM_KEY, 123)
    assert config.servers[0]["shortId"] == 123 and config.servers[0]["lifetime"] == 300
    assert config.oscore == {} and config.content_format is None


def test_leshan_example_round_trips() -> None:
    config = BootstrapConfig.from_json(LESHAN_EXAMPLE)
    data = config.to_json()
    assert BootstrapConfig.from_json(data) == config
    # as Leshan's GET writes it: every default present, byte fields as unsigned int arrays
    assert data["toDelete"] == ["/0", "/1", "/21"]
    assert data["autoIdForSecurityObject"] is False and data["acls"] == {}
    assert data["oscore"] == {} and "contentFormat" not in data
    assert data["security"]["0"]["secretKey"] == list(BS_KEY)
    assert data["security"]["0"]["bootstrapServerAccountTimeout"] == 0
    assert data["security"]["1"]["secretKey"] == list(DM_KEY)
    assert all(0 <= b <= 255 for b in data["security"]["1"]["secretKey"])
    assert data["servers"]["0"] == {"shortId": 123, "lifetime": 300, "defaultMinPeriod": 1,
                                    "notifIfDisabled": True, "binding": "U"}  # fmt: skip
    for instance, entry in LESHAN_EXAMPLE["security"].items():
        assert entry.items() <= data["security"][instance].items()


def test_signed_unsigned_and_base64_bytes_read_the_same() -> None:
    """The JSON file store writes signed bytes, the REST GET unsigned ones, and Jackson also
    reads base64 strings."""
    signed = [b - 256 if b > 127 else b for b in BS_KEY]
    assert min(signed) < 0
    forms = (list(BS_KEY), signed, base64.b64encode(BS_KEY).decode(), "obLD1OX2BxgpOktcbX6PkA==")
    read = [BootstrapConfig.from_json(with_entry("security", "0", secretKey=form))
            for form in forms]  # fmt: skip
    assert {c.security[0]["secretKey"] for c in read} == {BS_KEY}
    assert read[1].to_json()["security"]["0"]["secretKey"] == list(BS_KEY)
    extremes = BootstrapConfig.from_json(
        with_entry("security", "0", secretKey=[-128, -1, 0, 127, 128, 255])
    )
    assert extremes.security[0]["secretKey"] == bytes([128, 255, 0, 127, 128, 255])


def test_defaults_are_filled() -> None:
    config = BootstrapConfig.from_json({
        "security": {"0": {"securityMode": "NO_SEC", "serverId": 5}},
        "servers": {"0": {"shortId": 5}},
    })  # fmt: skip
    assert config.to_delete == ("/0", "/1")
    assert config.security[0] == {
        "uri": "", "bootstrapServer": False, "securityMode": "NO_SEC", "publicKeyOrId": b"",
        "serverPublicKey": b"", "secretKey": b"", "smsSecurityMode": "NO_SEC",
        "smsBindingKeyParam": b"", "smsBindingKeySecret": b"", "serverSmsNumber": "",
        "clientOldOffTime": 1, "bootstrapServerAccountTimeout": 0, "serverId": 5}  # fmt: skip
    assert config.servers[0] == {"shortId": 5, "lifetime": 86400, "defaultMinPeriod": 1,
                                 "notifIfDisabled": True, "binding": "U"}  # fmt: skip
    assert config.bootstrap_security() is None and config.bootstrap_psk() is None
    empty = BootstrapConfig.from_json({})
    assert empty == BootstrapConfig() and empty.writes() == []


def test_a_nosec_bootstrap_account_has_no_psk() -> None:
    data = with_entry("security", "0", securityMode="NO_SEC", publicKeyOrId=[], secretKey=[])
    config = BootstrapConfig.from_json(data)
    assert config.bootstrap_security() is config.security[0]
    assert config.bootstrap_psk() is None


def test_a_dm_psk_may_be_left_empty() -> None:
    """This server's exception to Leshan's checker: an empty DM PSK is generated later."""
    config = BootstrapConfig.from_json(with_entry("security", "1", uri="", publicKeyOrId=[],
                                                  secretKey=[]))  # fmt: skip
    assert config.security[1]["secretKey"] == b"" and config.security[1]["uri"] == ""


def test_with_security_changes_one_entry_only() -> None:
    config = BootstrapConfig.from_json(LESHAN_EXAMPLE)
    changed = config.with_security(1, secretKey=b"k" * 16)
    assert changed.security[1]["secretKey"] == b"k" * 16
    assert config.security[1]["secretKey"] == DM_KEY
    assert changed.security[0] == config.security[0] and changed.servers == config.servers


# refusals
REFUSED: list[tuple[str, Any, str]] = [
    ("non-object list", [LESHAN_EXAMPLE], "a bootstrap config is a JSON object"),
    ("non-object string", "ep1", "a bootstrap config is a JSON object"),
    ("non-object null", None, "a bootstrap config is a JSON object"),
    ("unknown top-level field", example(endpoint="ep1"), "config: unknown field(s) endpoint"),
    ("unknown entry field", with_entry("security", "1", matchingType="SHA256"),
     "security 1: unknown field(s) matchingType"),
    ("unknown server field", with_entry("servers", "0", trigger=True),
     "servers 0: unknown field(s) trigger"),
    ("securityMode lower case", with_entry("security", "0", securityMode="psk"),
     "security 0: securityMode is one of PSK, RPK, X509, NO_SEC, EST"),
    ("securityMode as a number", with_entry("security", "0", securityMode=0),
     "security 0: securityMode is one of"),
    ("securityMode RPK", with_entry("security", "1", securityMode="RPK"),
     "security 1: security mode RPK is not supported (PSK and NO_SEC are)"),
    ("securityMode EST", with_entry("security", "1", securityMode="EST"),
     "security 1: security mode EST is not supported"),
    ("securityMode missing", with_entry("security", "1", securityMode=None),
     "security 1: securityMode is mandatory"),
    ("bad smsSecurityMode", with_entry("security", "1", smsSecurityMode="SPS"),
     "security 1: smsSecurityMode is one of RESERVED, SPS_DEVICE"),
    ("NO_SEC with a key", with_entry("security", "1", securityMode="NO_SEC", publicKeyOrId=[]),
     "security 1: NO-SEC mode, keys must be empty"),
    ("NO_SEC with an identity", with_entry("security", "1", securityMode="NO_SEC", secretKey=[]),
     "security 1: NO-SEC mode, keys must be empty"),
    ("PSK bootstrap without key", with_entry("security", "0", secretKey=[]),
     "security 0: pre-shared-key mode, identity and key are mandatory for the bootstrap server"),
    ("PSK bootstrap without identity", with_entry("security", "0", publicKeyOrId=""),
     "security 0: pre-shared-key mode, identity and key are mandatory"),
    ("PSK identity not UTF-8", with_entry("security", "0", publicKeyOrId=[0xFF, 0xFE]),
     "security 0: the PSK identity must be UTF-8"),
    ("identity of 33 bytes", with_entry("security", "0", publicKeyOrId=list(b"i" * 33)),
     "security 0: PSK identities take at most 32 bytes and keys 16"),
    ("key of 17 bytes", with_entry("security", "1", secretKey=list(range(17))),
     "security 1: PSK identities take at most 32 bytes and keys 16"),
    ("two bootstrap entries", with_entry("security", "1", bootstrapServer=True),
     "at most one security entry is the bootstrap server"),
    ("server without security", with_entry("security", "1", serverId=124),
     "no security entry for server instance: 0"),
    ("server matched only by the bootstrap entry", with_entry("security", "0", serverId=9) | {
        "servers": {"4": {"shortId": 9}}}, "no security entry for server instance: 4"),
    ("shortId 0", with_entry("servers", "0", shortId=0), "servers 0: shortId must be 1..65534"),
    ("shortId missing", with_entry("servers", "0", shortId=None),
     "servers 0: shortId must be 1..65534"),
    ("shortId negative", with_entry("servers", "0", shortId=-1),
     "servers 0: shortId is a non-negative integer"),
    ("toDelete path with a letter", example(toDelete=["/0", "/x"]), "/x is not a valid path"),
    ("toDelete path too deep", example(toDelete=["/0/1/2/3/4"]),
     "/0/1/2/3/4 is not a valid path"),
    ("toDelete not a list", example(toDelete="/0"), "toDelete is a list of paths"),
    ("toDelete of numbers", example(toDelete=[0, 1]), "toDelete is a list of paths"),
    ("acls non-empty", example(acls={"0": {"objectId": 3, "objectInstanceId": 0}}),
     "acls (object 2) are not supported"),
    ("autoIdForSecurityObject", example(autoIdForSecurityObject=True),
     "autoIdForSecurityObject is not supported: give the Security instance ids"),
    ("binding with a bad letter", with_entry("servers", "0", binding="UX"),
     "servers 0: binding is letters of U, T, S, N and Q"),
    ("binding lower case", with_entry("servers", "0", binding="u"),
     "servers 0: binding is letters of U, T, S, N and Q"),
    ("binding empty", with_entry("servers", "0", binding=""),
     "servers 0: binding is letters of U, T, S, N and Q"),
    ("binding as an array", with_entry("servers", "0", binding=["U"]),
     "servers 0: binding is a string"),
    ("oscoreSecurityMode without oscore", with_entry("security", "1", oscoreSecurityMode=3),
     "security 1: no oscore instance 3"),
    ("instance id not a number", example(servers={"a": {"shortId": 123}}),
     "servers: 'a' is not an instance id"),
    ("instance id out of range", example(servers={"65535": {"shortId": 123}}),
     "servers: '65535' is not an instance id"),
    ("entries not a map", example(security=[]), "security maps instance ids to entries"),
    ("entry not an object", example(servers={"0": 123}),
     "servers 0: an entry is a JSON object"),
    ("bytes of the wrong kind", with_entry("security", "0", secretKey=[1, 256]),
     "security 0: secretKey is an array of bytes or base64"),
    ("bytes as booleans", with_entry("security", "0", secretKey=[True]),
     "security 0: secretKey is an array of bytes or base64"),
    ("bytes as bad base64", with_entry("security", "0", secretKey="not base64!"),
     "security 0: secretKey is an array of bytes or base64"),
    ("bootstrapServer as a string", with_entry("security", "1", bootstrapServer="false"),
     "security 1: bootstrapServer is true or false"),
    ("lifetime as a string", with_entry("servers", "0", lifetime="300"),
     "servers 0: lifetime is a non-negative integer"),
    ("lifetime as a boolean", with_entry("servers", "0", lifetime=True),
     "servers 0: lifetime is a non-negative integer"),
    ("uri as a number", with_entry("security", "1", uri=5684), "security 1: uri is a string"),
    ("contentFormat text", example(contentFormat=0),
     "contentFormat must be TLV (11542), SenML CBOR (112) or SenML JSON (110)"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), [(d, m) for _, d, m in REFUSED],
                         ids=[name for name, _, _ in REFUSED])  # fmt: skip
def test_refused(data: Any, message: str) -> None:
    with pytest.raises(BootstrapConfigError) as refused:
        BootstrapConfig.from_json(data)
    assert message in str(refused.value)
    # a 4.00: the REST API answers it 400 (BootstrapConfigError is an InvalidRequest)
    assert isinstance(refused.value, InvalidRequest)
    assert refused.value.code == ResponseCode.BAD_REQUEST


def test_check_refuses_a_config_built_in_code() -> None:
    config = BootstrapConfig.from_json(LESHAN_EXAMPLE)
    broken = config.with_security(1, serverId=7)
    with pytest.raises(BootstrapConfigError, match="no security entry for server instance: 0"):
        broken.check()


def test_unicode_digit_instance_id_is_refused() -> None:
    """'²'.isdigit() is true, int('²') raises ValueError: still a 4.00, never a 500."""
    with pytest.raises(BootstrapConfigError, match="is not an instance id"):
        BootstrapConfig.from_json(example(servers={"²": {"shortId": 123}}))


def test_nosec_with_a_server_public_key_is_refused() -> None:
    """Leshan's checker: under NO_SEC the server public key must be empty too."""
    data = with_entry("security", "1", securityMode="NO_SEC", publicKeyOrId=[], secretKey=[],
                      serverPublicKey=[1, 2, 3])  # fmt: skip
    with pytest.raises(BootstrapConfigError, match="NO-SEC mode"):
        BootstrapConfig.from_json(data)


# what goes to the device
def test_writes_in_leshan_order() -> None:
    data = example(
        oscore={
            "2": {
                "oscoreMasterSecret": [1, 2, 3],
                "oscoreSenderId": [4],
                "oscoreRecipientId": [5],
                "oscoreAeadAlgorithm": 10,
                "oscoreHmacAlgorithm": 5,
                "oscoreMasterSalt": [],
            }
        }
    )
    data["security"]["1"]["oscoreSecurityMode"] = 2
    config = BootstrapConfig.from_json(data)
    writes = config.writes()
    assert [str(path) for path, _ in writes] == ["/0/0", "/0/1", "/1/0", "/21/2"]
    assert all(node.id == path.instance_id for path, node in writes)
    bootstrap, dm, server, oscore = (node for _, node in writes)
    assert bootstrap.resources[1] == SingleResource(1, T.BOOLEAN, True)
    assert bootstrap.resources[2] == SingleResource(2, T.INTEGER, 0)  # PSK
    assert bootstrap.resources[3] == SingleResource(3, T.OPAQUE, b"ep1-bs-id")
    assert bootstrap.resources[5] == SingleResource(5, T.OPAQUE, BS_KEY)
    assert bootstrap.resources[6] == SingleResource(6, T.INTEGER, 3)  # SMS NO_SEC
    assert 10 not in bootstrap.resources  # no serverId for the bootstrap account
    assert dm.resources[10] == SingleResource(10, T.INTEGER, 123)
    oscore_link = getattr(dm.resources[17], "value", None)
    assert isinstance(oscore_link, ObjectLink)
    assert oscore_link.object_id == 21
    assert oscore_link.instance_id == 2
    assert set(server.resources) == {0, 1, 2, 6, 7}
    assert server.resources[7] == SingleResource(7, T.STRING, "U")
    assert oscore.resources[0] == SingleResource(0, T.OPAQUE, b"\x01\x02\x03")
    assert oscore.resources[3] == SingleResource(3, T.INTEGER, 10)


@pytest.mark.parametrize("fmt", [ContentFormat.TLV, ContentFormat.SENML_CBOR],
                         ids=["tlv", "senml-cbor"])  # fmt: skip
def test_writes_encode_and_decode_back(fmt: ContentFormat) -> None:
    data = example(servers={"0": {"shortId": 123, "lifetime": 300, "defaultMaxPeriod": 60,
                                  "disableTimeout": 86400, "notifIfDisabled": False,
                                  "binding": "UQ"}})  # fmt: skip
    data["security"]["2"] = {"uri": "coap://nosec.example", "securityMode": "NO_SEC",
                             "serverId": 9}  # fmt: skip
    data["servers"]["1"] = {"shortId": 9}
    config = BootstrapConfig.from_json(data)
    writes = config.writes()
    assert [str(path) for path, _ in writes] == ["/0/0", "/0/1", "/0/2", "/1/0", "/1/1"]
    for path, node in writes:
        assert path.object_id in (0, 1)
        payload = encode(node, path, MODEL, fmt)
        assert decode(payload, path, MODEL, fmt) == node, path


@pytest.mark.parametrize("fmt", [ContentFormat.TLV, ContentFormat.SENML_CBOR],
                         ids=["tlv", "senml-cbor"])  # fmt: skip
def test_oscore_writes_encode_and_decode_back(fmt: ContentFormat) -> None:
    data = example(oscore={"1": {"oscoreMasterSecret": list(range(16)), "oscoreSenderId": [1],
                                 "oscoreRecipientId": [2], "oscoreAeadAlgorithm": 10,
                                 "oscoreMasterSalt": [9, 9]}})  # fmt: skip
    data["security"]["1"]["oscoreSecurityMode"] = 1
    writes = BootstrapConfig.from_json(data).writes()
    assert [str(path) for path, _ in writes] == ["/0/0", "/0/1", "/1/0", "/21/1"]
    for path, node in writes:
        payload = encode(node, path, MODEL, fmt)
        assert decode(payload, path, MODEL, fmt) == node, path


@pytest.mark.parametrize("fmt", [ContentFormat.TLV, ContentFormat.SENML_CBOR],
                         ids=["tlv", "senml-cbor"])  # fmt: skip
def test_bootstrap_account_write_encodes_every_security_resource(fmt: ContentFormat) -> None:
    path, node = BootstrapConfig.from_json(LESHAN_EXAMPLE).writes()[0]
    assert path == Lwm2mPath.of(0, 0)
    decoded = decode(encode(node, path, MODEL, fmt), path, MODEL, fmt)
    assert isinstance(decoded, ObjectInstance)
    assert sorted(decoded.resources) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]
    assert getattr(decoded.resources[0], "value", None) == "coaps://bs.example:5684"
    assert getattr(decoded.resources[5], "value", None) == BS_KEY
