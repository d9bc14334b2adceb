#!/usr/bin/python3
"""CPU time of python3-saml (OneLogin's toolkit, Debian's python3-onelogin-saml2) validating
the responses written by TestWriteComparisonResponses, for comparison with
BenchmarkValidateResponse. Usage: /usr/bin/python3 bench_python3_saml.py FOLDER"""
import base64, glob, json, os, sys, time
from urllib.parse import urlparse

from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

folder = sys.argv[1]
for path in sorted(glob.glob(os.path.join(folder, "response-*.xml")), key=lambda p: int(p.split("-")[-1][:-4])):
    attrs = path.split("-")[-1][:-4]
    cfg = json.load(open(os.path.join(folder, "settings-%s.json" % attrs)))
    settings = OneLogin_Saml2_Settings({
        "strict": True,
        "sp": {"entityId": cfg["sp_entity_id"],
               "assertionConsumerService": {"url": cfg["acs_url"], "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}},
        "idp": {"entityId": cfg["idp_entity_id"],
                "singleSignOnService": {"url": cfg["idp_sso_url"], "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"},
                "x509cert": cfg["idp_cert"]},
        "security": {"wantAssertionsSigned": False, "wantMessagesSigned": False, "rejectDeprecatedAlgorithm": True},
    }, sp_validation_only=True)
    raw = open(path, "rb").read()
    encoded = base64.b64encode(raw).decode()
    acs = urlparse(cfg["acs_url"])
    request = {"https": "on" if acs.scheme == "https" else "off", "http_host": acs.netloc, "script_name": acs.path,
               "server_port": 443 if acs.scheme == "https" else 80}
    def once():
        r = OneLogin_Saml2_Response(settings, encoded)
        ok = r.is_valid(request, raise_exceptions=True)
        assert ok and r.get_nameid(), r.get_error()
    once()
    n, t0 = 0, time.process_time()
    while time.process_time() - t0 < 3:
        once()
        n += 1
    cpu = (time.process_time() - t0) / n
    print("python3-saml attrs=%s bytes=%d: %.0f us/op CPU (%.3f us/byte), %d runs" % (attrs, len(raw), cpu * 1e6, cpu * 1e6 / len(raw), n))
