"""moto_server with working SigV4 verification, for Cairn's S3 tests (scripts/test-stores.sh,
Tests/CairnTests/MotoServer.swift). Run as `python3 moto_sigv4.py -H 127.0.0.1 -p PORT`.

With MOTO_SIGV4_CREDENTIALS=FILE set, it first creates an IAM user allowed s3:*, writes its
access key id and secret key (one a line) to FILE, and turns signature checking on, all
before it listens; without it, auth stays off until POST /moto-api/reset-auth.

Stock moto 5.x verifies SigV4 only after POST /moto-api/reset-auth, and then rebuilds
the canonical request from werkzeug's *decoded* URL, so any request with a %-encoded
byte in path or query (?prefix=data%2F, keys with + = : ( ) ...) fails with
SignatureDoesNotMatch although correctly signed; unsigned requests crash with 500.
Patched here (only once auth is enabled):
 * canonical URI/query built from the raw request line (RAW_URI): decoded, then
   re-encoded per SigV4 (RFC 3986 unreserved kept, %XX upper-case, params sorted);
 * no/unsupported Authorization header -> 403 AccessDenied (presigned URLs unsupported);
 * S3 requests need x-amz-content-sha256; a hex value must equal sha256(body)
   (400 XAmzContentSHA256Mismatch), else UNSIGNED-PAYLOAD or STREAMING-*;
 * host and every x-amz-* header present must be in SignedHeaders (403 AccessDenied);
 * X-Amz-Date within 15 min of server time (403 RequestTimeTooSkewed) and equal to
   the credential-scope date (400 AuthorizationHeaderMalformed).
 * with MOTO_SIGV4_REGION set, S3 credential scope must be <region>/s3 (400
   AuthorizationHeaderMalformed, as AWS answers for a wrong region)."""
import datetime, hashlib, os, re, sys
from urllib.parse import quote, unquote, urlsplit
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.s3.exceptions import S3ClientError

_UNRESERVED = "-_.~"
_STATUS = {"RequestTimeTooSkewed": 403, "AuthorizationHeaderMalformed": 400,
           "XAmzContentSHA256Mismatch": 400, "InvalidRequest": 400, "InvalidArgument": 400}

def _raise(code, msg):
    from moto.s3 import exceptions as e
    if code == "AccessDenied":
        raise e.S3AccessDeniedError()
    raise S3ClientError(code, msg)

def _install_status_map():
    import moto.core.errors as ce, moto.core.serialize as cs
    orig = ce.get_error_model
    def get_error_model(exception, default_service_model):
        shape = orig(exception, default_service_model)
        code = getattr(exception, "code", None)
        if code in _STATUS and "httpStatusCode" not in shape.metadata.get("error", {}):
            shape = ce.ErrorShape(shape_name=code, shape_model={
                "exception": True, "type": "structure", "members": {},
                "error": {"code": code, "httpStatusCode": _STATUS[code]}})
        return shape
    ce.get_error_model = get_error_model
    cs.get_error_model = get_error_model

def _canonical(raw_uri):
    parts = urlsplit(raw_uri)
    path = quote(unquote(parts.path or "/"), safe="/" + _UNRESERVED)
    pairs = []
    for item in (parts.query.split("&") if parts.query else []):
        if item:
            k, _, v = item.partition("=")
            pairs.append((quote(unquote(k), safe=_UNRESERVED), quote(unquote(v), safe=_UNRESERVED)))
    q = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    return path + ("?" + q if q else "")

def _patched(self, iam_request_cls, resource="*"):
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    from moto.iam.access_control import S3IAMRequest
    auth = self.headers.get("Authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        _raise("AccessDenied", "no or unsupported Authorization header")
    environ = getattr(getattr(self, "request", None), "environ", None) or {}
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = _canonical(raw)
    else:
        p = urlsplit(self.uri)
        path = p.path + ("?" + p.query if p.query else "")
    m = re.search(r"SignedHeaders=([^,]*)", auth)
    signed = [h.strip().lower() for h in m.group(1).split(";")] if m else []
    if "host" not in signed:
        _raise("AccessDenied", "host not signed")
    for h in self.headers.keys():
        if h.lower().startswith("x-amz-") and h.lower() not in signed:
            _raise("AccessDenied", f"{h} present but not signed")
    amz_date = self.headers.get("X-Amz-Date") or ""
    try:
        t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        _raise("AccessDenied", "missing/bad X-Amz-Date")
    if abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) > 900:
        _raise("RequestTimeTooSkewed",
               "The difference between the request time and the current time is too large.")
    cred = re.search(r"Credential=([^,]*)", auth)
    scope = cred.group(1).split("/") if cred else []
    if len(scope) != 5 or scope[1] != amz_date[:8] or scope[4] != "aws4_request":
        _raise("AuthorizationHeaderMalformed", "credential scope malformed or date != X-Amz-Date")
    want = os.environ.get("MOTO_SIGV4_REGION")
    if iam_request_cls is S3IAMRequest and want and (scope[2] != want or scope[3] != "s3"):
        _raise("AuthorizationHeaderMalformed",
               f"The authorization header is malformed; the region '{scope[2]}' is wrong; expecting '{want}'")
    if iam_request_cls is S3IAMRequest:
        sha = self.headers.get("x-amz-content-sha256")
        if sha is None:
            _raise("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        if re.fullmatch(r"[0-9a-f]{64}", sha):
            body = self.raw_body if isinstance(self.raw_body, (bytes, bytearray)) else (self.raw_body or "").encode()
            if hashlib.sha256(body).hexdigest() != sha:
                _raise("XAmzContentSHA256Mismatch",
                       "The provided 'x-amz-content-sha256' header does not match what was computed.")
        elif sha != "UNSIGNED-PAYLOAD" and not sha.startswith("STREAMING-"):
            _raise("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a SHA256")
    req = iam_request_cls(account_id=self.current_account, method=self.method, path=path,
                          data=self.data, body=self.raw_body, headers=self.headers,
                          action=self._get_action())
    req.check_signature()
    req.check_action_permitted(resource)

ActionAuthenticatorMixin._authenticate_and_authorize_action = _patched
_install_status_map()

def _bootstrap(path):
    """An IAM user with an s3:* policy and an access key; then auth on for every request."""
    import json
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user(region_name="us-east-1", user_name="cairn-test")
    iam.put_user_policy("cairn-test", "s3-all", json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key("cairn-test")
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(key.access_key_id + "\n" + key.secret_access_key + "\n")
    os.replace(tmp, path)

if __name__ == "__main__":
    import signal
    # A parent may have started us with SIGTERM blocked (test runners' threads do): unblock it,
    # or `kill PID` would never stop the server.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    from moto.server import main
    if os.environ.get("MOTO_SIGV4_CREDENTIALS"):
        _bootstrap(os.environ["MOTO_SIGV4_CREDENTIALS"])
    sys.exit(main())
