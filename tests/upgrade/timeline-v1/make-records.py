#!/usr/bin/python3 -I
# Hand-made input for the schema-1 timeline fixture (see README.md): Key
# Vault AuditEvent records in the documented diagnostic-log shape (the
# fields of samples/insights-logs-auditevent), spread over four vaults and
# two stretches of 2026 so that a retention prune leaves chain anchors:
# January (pruned), November (kept, one in sixteen). 2400 records: the
# analyzer trains its zstd dictionary on the first 2000 bodies, so the last
# ones kept are dictionary-coded. Deterministic: no clock, no randomness.
import json
import os
import sys

out = sys.argv[1]
sub = "7D1C2B3A-0000-4000-8000-00000000C0DE"
vaults = ["CONTOSO-CMK-KV", "FABRIKAM-CMK-KV", "WOODGROVE-CMK-KV", "RETIRED-CMK-KV"]
ops = ["KeyUnwrap", "KeyWrap", "KeyGet", "VaultGet", "SecretGet", "KeyUnwrap"]
records = []
for i in range(2400):
    vault = vaults[i % 4]
    # Most records are January's. The retired vault is heard from in January
    # only: a fully pruned chain.
    month = 11 if i % 48 in (1, 6, 8) else 1
    day = 1 + (i // 8) % 28
    t = f"2026-{month:02d}-{day:02d}T{(i // 3) % 24:02d}:{(i * 7) % 60:02d}:{(i * 13) % 60:02d}.{i:07d}Z"
    op = ops[i % len(ops)]
    rid = f"/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/RG-AI-PROD/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}"
    host = vault.lower() + ".vault.azure.net"
    records.append({
        "time": t,
        "resourceId": rid,
        "operationName": op,
        "operationVersion": "7.4",
        "category": "AuditEvent",
        "resultType": "Success" if i % 17 else "Forbidden",
        "resultSignature": "OK" if i % 17 else "Forbidden",
        "resultDescription": "",
        "durationMs": str(3 + i % 9),
        "callerIpAddress": f"10.{i % 200}.{(i // 200) % 200}.{1 + i % 250}",
        "correlationId": f"{i:08x}-0000-4000-8000-{i:012x}",
        "identity": {"claim": {
            "http://schemas.microsoft.com/identity/claims/objectidentifier": f"5a0e0c2d-1111-4111-8111-{i % 5:012d}",
            "appid": "0a1b2c3d-4444-4444-8444-0000000000a1",
            "http://schemas.microsoft.com/identity/claims/tenantid": "72f988bf-0000-4000-8000-0000000000aa"}},
        "properties": {
            "clientInfo": "azsdk-net-Security.KeyVault.Keys/4.6.0",
            "httpStatusCode": 200 if i % 17 else 403,
            "tlsVersion": "TLS1_2",
            "id": f"https://{host}/keys/foundry-cmk/6b1f0c3e9a8d4e27b5c4a3f2e1d0c9b8",
            "requestUri": f"https://{host}/keys/foundry-cmk/6b1f0c3e9a8d4e27b5c4a3f2e1d0c9b8/unwrapkey?api-version=7.4",
            "isAccessPolicyMatch": True,
            "isRbacAuthorized": False,
            "trustedService": "CognitiveServices"}})
# Retention prunes a chain from its start only, so January comes first.
records.sort(key=lambda r: r["time"][:7])
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "PT1H.json"), "w") as f:
    for r in records:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
