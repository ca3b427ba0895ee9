"""The CSMS against peers we did not write, on loopback.

- PyPI ``test-ocpp`` (a CLI charge point): security profile 1 with the right and a wrong
  password, an unknown station, profile 2 over TLS and profile 3 with client certificates,
  all with certificates made here at test time.
- npm ``ocpp-rpc`` as a strict, schema-validating OCPP 2.0.1 and 2.1 station
  (``tests/peers/ocpp_rpc``, installed by ``npm ci --prefix tests/peers/ocpp_rpc``): it must
  accept the CSMS's SetChargingProfile messages, V2X included, and reject an off-schema one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.exceptions import OCPPError
from ocpp.v21 import call as call21
from ocpp.v201 import call as call201

from control.adapters.ocpp_csms import OcppCsms

TEST_OCPP = str(Path(sys.executable).parent / "test-ocpp")
PEER_DIR = Path(__file__).resolve().parents[1] / "peers" / "ocpp_rpc"
UNTIL = datetime.now(UTC) + timedelta(days=1)


def run(coro, timeout_s: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def _cert(
    subject_cn: str, issuer_key, issuer_name, key, ca: bool, server: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(
            issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
        )
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key) -> tuple[str, str]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """A test CA, a server certificate for 127.0.0.1, and client certificates by CN."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("NovaEnergy test CA", ca_key, None, ca_key, ca=True, server=False)
    out = {"ca": _write(root / "ca", ca, ca_key)}
    server_key = ec.generate_private_key(ec.SECP256R1())
    out["server"] = _write(
        root / "server", _cert("127.0.0.1", ca_key, ca.subject, server_key, False, True), server_key
    )
    for cn in ("cp-tls", "someone-else"):
        key = ec.generate_private_key(ec.SECP256R1())
        out[cn] = _write(root / cn, _cert(cn, ca_key, ca.subject, key, False, False), key)
    return out


async def run_test_ocpp(url: str, station: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        TEST_OCPP,
        url,
        station,
        *args,
        "--timeout",
        "10",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_profile1_right_password_boots_and_a_wrong_one_gets_401(version):
    async def body():
        async with OcppCsms({"cp-1": "s3cret"}, site_id="s", port=0) as csms:
            url = f"ws://127.0.0.1:{csms.port}"
            good = await run_test_ocpp(url, "cp-1", "--ocpp", version, "--password", "s3cret")
            bad = await run_test_ocpp(url, "cp-1", "--ocpp", version, "--password", "guess")
            none = await run_test_ocpp(url, "cp-1", "--ocpp", version)
            unknown = await run_test_ocpp(url, "cp-9", "--ocpp", version, "--password", "s3cret")
            return good, bad, none, unknown

    good, bad, none, unknown = run(body())
    assert good[0] == 0 and "BootNotification status: Accepted" in good[1], good[1]
    assert f"subprotocol: ocpp{version}" in good[1]
    assert bad[0] == 1 and "HTTP 401" in bad[1]
    assert none[0] == 1 and "HTTP 401" in none[1]
    assert unknown[0] == 1 and "HTTP 404" in unknown[1]


def test_profile2_tls_with_test_time_certificates(pki):
    async def body():
        cert, key = pki["server"]
        async with OcppCsms(
            {"cp-1": "s3cret"}, site_id="s", port=0, tls_cert=cert, tls_key=key
        ) as csms:
            url = f"wss://127.0.0.1:{csms.port}"
            ca = pki["ca"][0]
            good = await run_test_ocpp(
                url, "cp-1", "--ocpp", "2.0.1", "--password", "s3cret", "--ca", ca
            )
            bad = await run_test_ocpp(
                url, "cp-1", "--ocpp", "2.0.1", "--password", "guess", "--ca", ca
            )
            untrusted = await run_test_ocpp(url, "cp-1", "--password", "s3cret")  # system CAs only
            return good, bad, untrusted

    good, bad, untrusted = run(body())
    assert good[0] == 0 and "TLSv1." in good[1] and "SUCCESS" in good[1], good[1]
    assert bad[0] == 1 and "HTTP 401" in bad[1]
    assert untrusted[0] == 1


def test_profile3_client_certificate_cn_must_be_the_station_id(pki):
    async def body():
        cert, key = pki["server"]
        ca = pki["ca"][0]
        async with OcppCsms(
            {"cp-tls": None}, site_id="s", port=0, tls_cert=cert, tls_key=key, tls_client_ca=ca
        ) as csms:
            url = f"wss://127.0.0.1:{csms.port}"
            runs = []
            for who in ("cp-tls", "someone-else"):
                c, k = pki[who]
                runs.append(
                    await run_test_ocpp(
                        url, "cp-tls", "--ocpp", "2.0.1", "--ca", ca, "--cert", c, "--key", k
                    )
                )
            runs.append(await run_test_ocpp(url, "cp-tls", "--ocpp", "2.0.1", "--ca", ca))
            return runs

    right, wrong_cn, no_cert = run(body())
    assert right[0] == 0 and "SUCCESS" in right[1], right[1]
    assert wrong_cn[0] == 1 and "HTTP 403" in wrong_cn[1]
    assert no_cert[0] == 1


async def strict_station(url: str, station: str, protocol: str, password: str):
    node = shutil.which("node")
    assert node, "Node is needed for the ocpp-rpc peer (apt: nodejs npm)"
    assert (PEER_DIR / "node_modules" / "ocpp-rpc").is_dir(), (
        "ocpp-rpc is not installed: run npm ci --prefix tests/peers/ocpp_rpc"
    )
    return await asyncio.create_subprocess_exec(
        node,
        str(PEER_DIR / "station.js"),
        url,
        station,
        protocol,
        password,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,  # ajv's notes on the 2.1 schemas
    )


def _off_schema(protocol: str):
    """A SetChargingProfile that breaks the schema: discharge limit > 0 (2.1), or a 2.1-only
    field in 2.0.1."""
    period = {"startPeriod": 0, "limit": 10.0}
    if protocol == "ocpp2.1":
        period |= {
            "operationMode": "CentralSetpoint",
            "setpoint": -1000.0,
            "dischargeLimit": 1000.0,
        }
    else:
        period |= {"setpoint": -1000.0}
    profile = {
        "id": 9,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [period]}
        ],
    }
    module = call21 if protocol == "ocpp2.1" else call201
    return module.SetChargingProfile(evse_id=0, charging_profile=profile)


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
def test_strict_ocpp_rpc_station_accepts_our_profiles_and_rejects_an_off_schema_one(protocol):
    async def body():
        async with OcppCsms({"strict-1": "pw"}, site_id="s", port=0) as csms:
            proc = await strict_station(f"ws://127.0.0.1:{csms.port}", "strict-1", protocol, "pw")
            try:
                charger = await csms.wait_for_station("strict-1", 15)
                acks = [await charger.set_power(p, UNTIL) for p in (11_000, -7_000, -5_000)]
                with pytest.raises(OCPPError) as refused:
                    await charger.handler.call(
                        _off_schema(protocol), suppress=False, skip_schema_validation=True
                    )
                after = await charger.set_power(3_000, UNTIL)  # the station still works
            finally:
                proc.stdin.close()
                out = await asyncio.wait_for(proc.stdout.read(), 10)
                await proc.wait()
            return (
                acks,
                refused.value,
                after,
                [json.loads(line) for line in out.decode().splitlines()],
            )

    acks, refused, after, events = run(body())
    accepted = [e for e in events if e["event"] == "accepted"]
    rejected = [e for e in events if e["event"] == "rejected"]
    assert {"event": "ready", "protocol": protocol} in events
    assert all(a.status == "Accepted" for a in acks) and after.status == "Accepted"
    assert len(rejected) == 1 and rejected[0]["method"] == "SetChargingProfile"
    assert refused.code == rejected[0]["code"]  # the station's CALLERROR reached the caller
    methods = [e["method"] for e in accepted]
    if protocol == "ocpp2.1":
        discharge = next(
            e["params"]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]
            for e in accepted
            if e["method"] == "SetChargingProfile"
            and e["params"]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][
                0
            ].get("setpoint")
        )
        assert discharge == {
            "startPeriod": 0,
            "operationMode": "CentralSetpoint",
            "setpoint": -7000,
            "dischargeLimit": -7000,
        }
        assert "UpdateDynamicSchedule" in methods
        assert acks[2].action == "UpdateDynamicSchedule"
    else:
        assert acks[1].fallbacks == ["V2X"]  # no discharge in 2.0.1: clamped to 0 W
    assert methods[0] == "GetVariables" and methods.count("SetChargingProfile") >= 3
