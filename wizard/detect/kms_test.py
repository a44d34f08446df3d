"""The KMS screen's "Test connection" (moved here unchanged from the former ``wizard/detect.py``).

The kms capability will move it into ``wizard/kms/``; until then it lives beside the service probes.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from typing import Any

from wizard.credentials import BadCredential, read_credential
from wizard.detect.facts import DEFAULT_TIMEOUT, Fact, short
from wizard.detect.services import host_port, net_error, tcp_open, vault_health
from wizard.plan import Plan


def kms_test(plan: Plan, timeout: float = DEFAULT_TIMEOUT) -> Fact:
    """The KMS screen's "test connection": can stackseal reach the chosen KMS with these answers?

    Never prints a secret: tokens are read from their files and only sent to the KMS.
    """
    backend = plan.kms.backend
    if backend == "local":
        return Fact("kms_test", "KMS", True, "local keys need no connection (development only)")
    if backend == "vault":
        return _vault_test(plan, timeout)
    if backend == "aws":
        return _aws_test(plan, timeout)
    if backend == "azure":
        return _endpoint_test("azure", plan.kms.azure.vault_url, plan.kms.azure.client_secret_file, plan, timeout)
    return _endpoint_test("gcp", "https://cloudkms.googleapis.com", plan.kms.gcp.credentials_file, plan, timeout)


def _vault_request(
    address: str,
    path: str,
    timeout: float,
    token: str | None = None,
    body: dict | None = None,
    namespace: str | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Vault-Token"] = token
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        address.rstrip("/") + path, data=data, headers=headers, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"{}")
        except ValueError:
            return err.code, {}


def _vault_test(plan: Plan, timeout: float) -> Fact:
    v = plan.kms.vault
    if v.deploy:
        return Fact("kms_test", "KMS", True, "OpenBao will run inside the stack: nothing to reach yet")
    try:
        health = vault_health(v.address, timeout)
    except (OSError, ValueError) as err:
        ok, why = net_error(err, timeout)
        return Fact("kms_test", "KMS", ok, f"{v.address}: {why}")
    if health.get("sealed"):
        return Fact("kms_test", "KMS", False, f"{v.address} is sealed: unseal it first")
    try:
        if v.token_file:
            token = read_credential(plan, v.token_file)
            how = "token"
        elif v.approle_role_id_file and v.approle_secret_id_file:
            status, answer = _vault_request(
                v.address,
                "/v1/auth/approle/login",
                timeout,
                namespace=v.namespace,
                body={
                    "role_id": read_credential(plan, v.approle_role_id_file),
                    "secret_id": read_credential(plan, v.approle_secret_id_file),
                },
            )
            if status != 200:
                return Fact("kms_test", "KMS", False, f"AppRole login refused (HTTP {status})")
            token = answer["auth"]["client_token"]
            how = "AppRole"
        elif os.environ.get("VAULT_TOKEN"):
            token, how = os.environ["VAULT_TOKEN"], "VAULT_TOKEN"
        else:
            return Fact(
                "kms_test", "KMS", None, f"{v.address} is up and unsealed; no token given, so access was not tested"
            )
    except BadCredential as err:
        return Fact("kms_test", "KMS", False, str(err))
    except OSError as err:
        return Fact("kms_test", "KMS", False, f"cannot read a credentials file: {short(err.strerror or err)}")
    except (ValueError, KeyError, TypeError) as err:  # a malformed answer; its text may quote what we sent
        return Fact("kms_test", "KMS", False, f"{v.address}: unexpected answer to the login ({type(err).__name__})")
    try:
        return _vault_token_test(v, token, how, timeout)
    except (OSError, ValueError, http.client.HTTPException) as err:  # never str(err): it may quote a header (the token)
        ok, why = net_error(err, timeout) if isinstance(err, OSError) else (False, type(err).__name__)
        return Fact("kms_test", "KMS", ok, f"{v.address}: {why}")


def _vault_token_test(v: Any, token: str, how: str, timeout: float) -> Fact:
    """What a token may do: lookup-self, then whether the transit mount exists."""
    status, answer = _vault_request(
        v.address, "/v1/auth/token/lookup-self", timeout, token=token, namespace=v.namespace
    )
    if status != 200:
        return Fact("kms_test", "KMS", False, f"{how} refused by {v.address} (HTTP {status})")
    policies = ", ".join(answer.get("data", {}).get("policies", []) or [])
    status, mounts = _vault_request(v.address, "/v1/sys/mounts", timeout, token=token, namespace=v.namespace)
    transit = f"{v.transit_mount}/"
    if status == 200:
        found = transit in (mounts.get("data", mounts) or {})
        mount_text = f"transit mount '{v.transit_mount}' {'present' if found else 'missing: apply will enable it'}"
    else:
        mount_text = "mounts not readable with this token (apply needs transit access)"
    return Fact("kms_test", "KMS", True, f"{how} accepted (policies: {policies or 'none'}); {mount_text}")


def _aws_test(plan: Plan, timeout: float) -> Fact:
    aws = plan.kms.aws
    try:
        import boto3  # optional: only needed for the AWS backend
        from botocore.config import Config
    except ImportError:
        return Fact("kms_test", "KMS", None, "boto3 is not installed (pip install boto3); connection not tested")
    try:
        session = boto3.session.Session(profile_name=aws.profile, region_name=aws.region)
        client = session.client(
            "kms",
            endpoint_url=aws.endpoint_url,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
        )
        key = aws.key_id or f"alias/{plan.kms.key_name}"  # stackseal never creates AWS keys: it must exist
        meta = client.describe_key(KeyId=key)["KeyMetadata"]
        ok = meta["KeyState"] == "Enabled"
        return Fact("kms_test", "KMS", ok, f"key {key} ({meta['KeyId']}) is {meta['KeyState']} in {aws.region}")
    except Exception as err:  # botocore raises many types; the class name and first line say enough
        if type(err).__name__ == "NotFoundException":
            return Fact(
                "kms_test",
                "KMS",
                False,
                f"credentials accepted, but key {aws.key_id or 'alias/' + plan.kms.key_name} "
                f"does not exist in {aws.region}: create it or set its key id",
            )
        return Fact("kms_test", "KMS", False, f"AWS KMS: {type(err).__name__}: {short(err)}")


def _endpoint_test(backend: str, url: str | None, cred_file: str | None, plan: Plan, timeout: float) -> Fact:
    """Azure/GCP: their SDKs are not dependencies and no step uses these credentials yet: check what
    can be checked (the URL, the file, the endpoint) and never claim the credentials were."""
    name = {"azure": "Azure Key Vault", "gcp": "Google Cloud KMS"}[backend]
    if not url:
        return Fact("kms_test", "KMS", False, f"{name}: the vault URL is not set")
    if cred_file and not plan.resolve(cred_file).is_file():
        return Fact("kms_test", "KMS", False, f"{name}: credentials file {cred_file} does not exist")
    host, port = host_port(url, 443)
    reachable = tcp_open(host, port, timeout)
    if reachable:
        return Fact("kms_test", "KMS", None, f"{name} endpoint {host} reachable; the credentials were not tested")
    return Fact(
        "kms_test",
        "KMS",
        None if reachable is None else False,
        f"{name} endpoint {host} not reachable from here; you can continue offline and apply elsewhere",
    )
